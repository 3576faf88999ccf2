package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// confineKinds are the stores that touch a queue directory on the execution host: the local
// store (worker with --runner local, and queue-agent), the shell co-process under bash and
// plain sh, the sh path for large payloads (one exec per write, no GNU head), and the agent.
var confineKinds = []string{"local", "coproc-bash", "coproc-sh", "coproc-dd", "agent"}

func newConfineStore(t *testing.T, kind, dir string) store {
	if kind == "coproc-dd" {
		rs := newTestStore(t, "coproc-sh", dir).(*remoteStore)
		rs.noGNUHead = true
		return rs
	}
	return newTestStore(t, kind, dir)
}

// snapshot describes every entry under dir (type, and content for files) without following
// links, so a test can show that nothing outside the queue was created, changed or deleted.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case d.Type()&fs.ModeNamedPipe != 0:
			out[rel] = "fifo"
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = "file " + info.Mode().String() + " " + hex.EncodeToString(sum[:8])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s changed from %q to %q", what, k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s appeared (%s)", what, k, v)
		}
	}
}

func mustWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustFIFO(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceWithLink swaps the queue subdirectory sub for a symlink to target. A running worker
// recreates a removed directory at once, so it retries until the link wins.
func replaceWithLink(t *testing.T, q, sub, target string) {
	t.Helper()
	p := filepath.Join(q, sub)
	for i := 0; ; i++ {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		err := os.Symlink(target, p)
		if err == nil {
			return
		}
		if !errors.Is(err, fs.ErrExist) || i == 100 {
			t.Fatal(err)
		}
	}
}

// TestStoreConfinedToQueueDir plants what a hostile sandbox can plant in the queue directory
// (issue 10, finding 2) and checks, for every store, that no file outside the queue directory
// is created, changed or deleted, that nothing outside is read back, and that no operation
// hangs.
func TestStoreConfinedToQueueDir(t *testing.T) {
	livePID := itoaPID()
	cases := []struct {
		name string
		// plant runs after Prepare: the sandbox can change the directory at any time.
		plant func(t *testing.T, q, out string)
		check func(t *testing.T, ctx context.Context, s store, q, out string)
	}{
		{
			name: "requests is a symlink to an outside directory",
			plant: func(t *testing.T, q, out string) {
				mustWrite(t, filepath.Join(out, "a.json"), `{"id":"a"}`)
				replaceWithLink(t, q, "requests", out)
			},
			check: func(t *testing.T, ctx context.Context, s store, q, out string) {
				names, err := s.Wait(ctx, 0, nil)
				if err == nil || !strings.Contains(err.Error(), "symlink") || len(names) > 0 {
					t.Errorf("Wait = %v, %v; want a symlink error and no names", names, err)
				}
				if b, err := s.Read(ctx, "a.json", 64, nil); err == nil || len(b) > 0 {
					t.Errorf("Read = %q, %v; want an error", b, err)
				}
				if _, err := s.Write(ctx, "a.json", []byte("x"), true, true); err == nil {
					t.Error("Write with a symlinked requests/ succeeded")
				}
				if err := s.Remove(ctx, "a.json"); err == nil {
					t.Error("Remove with a symlinked requests/ succeeded")
				}
			},
		},
		{
			name: "requests is a symlink inside the queue",
			plant: func(t *testing.T, q, out string) {
				mustWrite(t, filepath.Join(q, "logs", "l.json"), `{"id":"l"}`)
				replaceWithLink(t, q, "requests", "logs")
			},
			check: func(t *testing.T, ctx context.Context, s store, q, out string) {
				names, err := s.Wait(ctx, 0, nil)
				if err == nil || !strings.Contains(err.Error(), "symlink") || len(names) > 0 {
					t.Errorf("Wait = %v, %v; want a symlink error and no names", names, err)
				}
			},
		},
		{
			name: "responses is a symlink to an outside directory",
			plant: func(t *testing.T, q, out string) {
				mustWrite(t, filepath.Join(q, "requests", "a.json"), `{"id":"a"}`)
				dead := filepath.Join(out, "d.json"+lockSuffix)
				if err := os.Mkdir(dead, 0o755); err != nil {
					t.Fatal(err)
				}
				mustWrite(t, filepath.Join(dead, "pid"), "2147483646\n")
				mustWrite(t, filepath.Join(out, "o.json.tmp"), "orphan")
				replaceWithLink(t, q, "responses", out)
			},
			check: func(t *testing.T, ctx context.Context, s store, q, out string) {
				if _, err := s.Write(ctx, "a.json", []byte("x"), true, false); err == nil || !strings.Contains(err.Error(), "symlink") {
					t.Errorf("Write with a symlinked responses/ = %v, want a symlink error", err)
				}
				if _, err := s.Write(ctx, "b.json", bytes.Repeat([]byte("y"), 40<<10), false, false); err == nil {
					t.Error("large unguarded Write with a symlinked responses/ succeeded")
				}
				if err := s.Sweep(ctx); err == nil {
					t.Error("Sweep with a symlinked responses/ succeeded")
				}
				if _, err := s.Wait(ctx, 0, nil); err == nil {
					t.Error("Wait with a symlinked responses/ succeeded: the worker could never answer")
				}
			},
		},
		{
			name: "response temp files are symlinks to an outside file and a FIFO",
			plant: func(t *testing.T, q, out string) {
				mustWrite(t, filepath.Join(out, "victim"), "precious\n")
				mustFIFO(t, filepath.Join(out, "fifo"))
				for _, n := range []string{"a", "b", "c"} {
					mustWrite(t, filepath.Join(q, "requests", n+".json"), "{}")
				}
				mustSymlink(t, filepath.Join(out, "victim"), filepath.Join(q, "responses", "a.json.tmp"))
				mustSymlink(t, filepath.Join(out, "fifo"), filepath.Join(q, "responses", "b.json.tmp"))
				mustSymlink(t, filepath.Join(out, "victim"), filepath.Join(q, "responses", "c.json.tmp"))
			},
			check: func(t *testing.T, ctx context.Context, s store, q, out string) {
				big := bytes.Repeat([]byte("z"), 40<<10) // the sh store's one-exec path
				for n, data := range map[string][]byte{"a": []byte("answer-a"), "b": []byte("answer-b"), "c": big} {
					res, err := s.Write(ctx, n+".json", data, true, false)
					if err != nil || res != wrote {
						t.Errorf("Write %s = %v, %v; want wrote", n, res, err)
						continue
					}
					p := filepath.Join(q, "responses", n+".json")
					if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
						t.Errorf("%s is not a regular file: %v %v", p, fi, err)
					} else if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
						t.Errorf("%s holds %d bytes, want %d", p, len(got), len(data))
					}
				}
				if err := s.Sweep(ctx); err != nil {
					t.Error(err)
				}
			},
		},
		{
			name: "lock directory is a symlink to an outside directory",
			plant: func(t *testing.T, q, out string) {
				mustWrite(t, filepath.Join(q, "requests", "a.json"), "{}")
				mustWrite(t, filepath.Join(q, "requests", "b.json"), "{}")
				for n, pid := range map[string]string{"live": livePID, "dead": "2147483646"} {
					if err := os.Mkdir(filepath.Join(out, n), 0o755); err != nil {
						t.Fatal(err)
					}
					mustWrite(t, filepath.Join(out, n, "pid"), pid+"\n")
				}
				// A link is never a writer's lock, whatever pid it leads to.
				mustSymlink(t, filepath.Join(out, "live"), filepath.Join(q, "responses", "a.json"+lockSuffix))
				mustSymlink(t, filepath.Join(out, "dead"), filepath.Join(q, "responses", "b.json"+lockSuffix))
				mustSymlink(t, filepath.Join(out, "dead"), filepath.Join(q, "responses", "c.json"+lockSuffix))
			},
			check: func(t *testing.T, ctx context.Context, s store, q, out string) {
				for _, n := range []string{"a.json", "b.json"} {
					if res, err := s.Write(ctx, n, []byte("answer"), true, false); err != nil || res != wrote {
						t.Errorf("Write %s = %v, %v; want wrote", n, res, err)
					}
				}
				if err := s.Sweep(ctx); err != nil {
					t.Error(err)
				}
			},
		},
		{
			name: "request files are a FIFO, a symlink and a huge file",
			plant: func(t *testing.T, q, out string) {
				mustFIFO(t, filepath.Join(q, "requests", "f.json"))
				mustWrite(t, filepath.Join(out, "secret"), `{"id":"s","secret":true}`)
				mustSymlink(t, filepath.Join(out, "secret"), filepath.Join(q, "requests", "s.json"))
				h, err := os.Create(filepath.Join(q, "requests", "h.json"))
				if err != nil {
					t.Fatal(err)
				}
				if err := h.Truncate(1 << 30); err != nil { // sparse: no disk cost
					t.Fatal(err)
				}
				h.Close()
			},
			check: func(t *testing.T, ctx context.Context, s store, q, out string) {
				names, err := s.Wait(ctx, 0, nil)
				if err != nil || !slices.Equal(names, []string{"h.json"}) {
					t.Errorf("Wait = %v, %v; want only the regular h.json", names, err)
				}
				for _, n := range []string{"f.json", "s.json"} {
					if b, err := s.Read(ctx, n, 64, nil); err == nil || len(b) > 0 {
						t.Errorf("Read %s = %q, %v; want an error", n, b, err)
					}
				}
				start := time.Now()
				if _, err := s.Read(ctx, "h.json", 1024, nil); !errors.Is(err, errTooLarge) || time.Since(start) > 3*time.Second {
					t.Errorf("Read of a 1 GiB request = %v after %v; want errTooLarge, fast", err, time.Since(start))
				}
				if err := s.Remove(ctx, "s.json"); err != nil {
					t.Error(err)
				}
				if _, err := os.Lstat(filepath.Join(q, "requests", "s.json")); !errors.Is(err, fs.ErrNotExist) {
					t.Error("the planted request link was not removed")
				}
			},
		},
	}
	for _, kind := range confineKinds {
		t.Run(kind, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					q, out := queueDir(t), t.TempDir()
					s := newConfineStore(t, kind, q)
					defer s.Close()
					// Bounded: the pre-fix store waited 30 s on a planted lock and could
					// block for good on a FIFO.
					ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
					defer cancel()
					if err := s.Prepare(ctx); err != nil {
						t.Fatal(err)
					}
					tc.plant(t, q, out)
					before := snapshot(t, out)
					done := make(chan struct{})
					go func() {
						defer close(done)
						tc.check(t, ctx, s, q, out)
					}()
					select {
					case <-done:
					case <-time.After(30 * time.Second):
						t.Fatal("store operations hung")
					}
					sameSnapshot(t, "outside directory", before, snapshot(t, out))
				})
			}
		})
	}
}

// TestStorePrepareRefusesSymlinkedDirs: a queue whose requests/, responses/ or logs/ is a
// link when the store starts is refused with an error naming it, never followed.
func TestStorePrepareRefusesSymlinkedDirs(t *testing.T) {
	for _, kind := range confineKinds {
		for _, sub := range []string{"requests", "responses", "logs"} {
			t.Run(kind+"/"+sub, func(t *testing.T) {
				q, out := queueDir(t), t.TempDir()
				replaceWithLink(t, q, sub, out)
				before := snapshot(t, out)
				s := newConfineStore(t, kind, q)
				defer s.Close()
				err := s.Prepare(t.Context())
				if err == nil || !strings.Contains(err.Error(), sub) || !strings.Contains(err.Error(), "symlink") {
					t.Errorf("Prepare = %v; want an error naming %s as a symlink", err, sub)
				}
				sameSnapshot(t, "outside directory", before, snapshot(t, out))
			})
		}
	}
}
