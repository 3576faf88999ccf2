package worker

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
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
				queuetest.MustWrite(t, filepath.Join(out, "a.json"), `{"id":"a"}`)
				queuetest.ReplaceWithLink(t, q, "requests", out)
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
				queuetest.MustWrite(t, filepath.Join(q, "logs", "l.json"), `{"id":"l"}`)
				queuetest.ReplaceWithLink(t, q, "requests", "logs")
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
				queuetest.MustWrite(t, filepath.Join(q, "requests", "a.json"), `{"id":"a"}`)
				dead := filepath.Join(out, "d.json"+lockSuffix)
				if err := os.Mkdir(dead, 0o755); err != nil {
					t.Fatal(err)
				}
				queuetest.MustWrite(t, filepath.Join(dead, "pid"), "2147483646\n")
				queuetest.MustWrite(t, filepath.Join(out, "o.json.tmp"), "orphan")
				queuetest.ReplaceWithLink(t, q, "responses", out)
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
				queuetest.MustWrite(t, filepath.Join(out, "victim"), "precious\n")
				queuetest.MustFIFO(t, filepath.Join(out, "fifo"))
				for _, n := range []string{"a", "b", "c"} {
					queuetest.MustWrite(t, filepath.Join(q, "requests", n+".json"), "{}")
				}
				queuetest.MustSymlink(t, filepath.Join(out, "victim"), filepath.Join(q, "responses", "a.json.tmp"))
				queuetest.MustSymlink(t, filepath.Join(out, "fifo"), filepath.Join(q, "responses", "b.json.tmp"))
				queuetest.MustSymlink(t, filepath.Join(out, "victim"), filepath.Join(q, "responses", "c.json.tmp"))
			},
			check: func(t *testing.T, ctx context.Context, s store, q, out string) {
				big := bytes.Repeat([]byte("z"), 40<<10) // the sh store's one-exec path
				for n, data := range map[string][]byte{"a": []byte("answer-a"), "b": []byte("answer-b"), "c": big} {
					res, err := s.Write(ctx, n+".json", data, true, false)
					if err != nil || res != queuedir.Wrote {
						t.Errorf("Write %s = %v, %v; want queuedir.Wrote", n, res, err)
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
				queuetest.MustWrite(t, filepath.Join(q, "requests", "a.json"), "{}")
				queuetest.MustWrite(t, filepath.Join(q, "requests", "b.json"), "{}")
				for n, pid := range map[string]string{"live": livePID, "dead": "2147483646"} {
					if err := os.Mkdir(filepath.Join(out, n), 0o755); err != nil {
						t.Fatal(err)
					}
					queuetest.MustWrite(t, filepath.Join(out, n, "pid"), pid+"\n")
				}
				// A link is never a writer's lock, whatever pid it leads to.
				queuetest.MustSymlink(t, filepath.Join(out, "live"), filepath.Join(q, "responses", "a.json"+lockSuffix))
				queuetest.MustSymlink(t, filepath.Join(out, "dead"), filepath.Join(q, "responses", "b.json"+lockSuffix))
				queuetest.MustSymlink(t, filepath.Join(out, "dead"), filepath.Join(q, "responses", "c.json"+lockSuffix))
			},
			check: func(t *testing.T, ctx context.Context, s store, q, out string) {
				for _, n := range []string{"a.json", "b.json"} {
					if res, err := s.Write(ctx, n, []byte("answer"), true, false); err != nil || res != queuedir.Wrote {
						t.Errorf("Write %s = %v, %v; want queuedir.Wrote", n, res, err)
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
				queuetest.MustFIFO(t, filepath.Join(q, "requests", "f.json"))
				queuetest.MustWrite(t, filepath.Join(out, "secret"), `{"id":"s","secret":true}`)
				queuetest.MustSymlink(t, filepath.Join(out, "secret"), filepath.Join(q, "requests", "s.json"))
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
				if _, err := s.Read(ctx, "h.json", 1024, nil); !errors.Is(err, queuedir.ErrTooLarge) || time.Since(start) > 3*time.Second {
					t.Errorf("Read of a 1 GiB request = %v after %v; want queuedir.ErrTooLarge, fast", err, time.Since(start))
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
					q, out := queuetest.Dir(t), t.TempDir()
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
					before := queuetest.Snapshot(t, out)
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
					queuetest.SameSnapshot(t, "outside directory", before, queuetest.Snapshot(t, out))
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
				q, out := queuetest.Dir(t), t.TempDir()
				queuetest.ReplaceWithLink(t, q, sub, out)
				before := queuetest.Snapshot(t, out)
				s := newConfineStore(t, kind, q)
				defer s.Close()
				err := s.Prepare(t.Context())
				if err == nil || !strings.Contains(err.Error(), sub) || !strings.Contains(err.Error(), "symlink") {
					t.Errorf("Prepare = %v; want an error naming %s as a symlink", err, sub)
				}
				queuetest.SameSnapshot(t, "outside directory", before, queuetest.Snapshot(t, out))
			})
		}
	}
}
