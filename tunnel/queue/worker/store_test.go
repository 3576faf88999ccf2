package worker

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// TestStoreContract checks every store implementation against the same expectations.
func TestStoreContract(t *testing.T) {
	kinds := append(slices.Clone(storeKinds), "coproc-dd")
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			dir := queuetest.Dir(t)
			var s store
			if kind == "coproc-dd" {
				rs := newTestStore(t, "coproc-sh", dir).(*remoteStore)
				rs.noGNUHead = true
				s = rs
			} else {
				s = newTestStore(t, kind, dir)
			}
			defer s.Close()
			ctx := t.Context()
			if err := s.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			if rs, ok := s.(*remoteStore); ok && kind == "agent" && !rs.agentFailAt.IsZero() {
				t.Fatal("queue agent did not start; the shell fallback ran instead")
			}
			req := func(name, content string) {
				if err := os.WriteFile(filepath.Join(dir, "requests", name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Listing: only *.json regular files with plain names, sorted.
			req("b.json", "{}")
			req("a.json", `{"x":1}`)
			req("c.json.tmp", "{}")
			req("bad name.json", "{}")
			_ = os.Mkdir(filepath.Join(dir, "requests", "d.json"), 0o755)
			names, err := s.Wait(ctx, 0, nil)
			if err != nil || !slices.Equal(names, []string{"a.json", "b.json"}) {
				t.Fatalf("list %v %v", names, err)
			}
			// Wait returns at once when an unskipped file exists, waits when all are skipped.
			start := time.Now()
			if _, err := s.Wait(ctx, 2*time.Second, map[string]bool{"a.json": true}); err != nil || time.Since(start) > time.Second {
				t.Fatalf("wait with unskipped file took %v (%v)", time.Since(start), err)
			}
			start = time.Now()
			newFile := make(chan struct{})
			go func() {
				defer close(newFile)
				time.Sleep(100 * time.Millisecond)
				_ = os.WriteFile(filepath.Join(dir, "requests", "e.json"), []byte("{}"), 0o644)
			}()
			defer func() { <-newFile }()
			// A wait may end early (plain sh caps each one); callers loop, and so does this test.
			for err == nil && !slices.Contains(names, "e.json") && time.Since(start) < 2*time.Second {
				names, err = s.Wait(ctx, 5*time.Second, map[string]bool{"a.json": true, "b.json": true})
			}
			if err != nil || !slices.Contains(names, "e.json") || time.Since(start) > 2*time.Second {
				t.Fatalf("wait for new file: %v %v after %v", names, err, time.Since(start))
			}
			// A one-shot store's polls renew the lease that keeps a detached gateway serving.
			if st, err := os.Stat(filepath.Join(dir, queue.LeaseFile)); strings.HasPrefix(kind, "once-") &&
				(err != nil || time.Since(st.ModTime()) > 2*time.Second) {
				t.Fatalf("lease not renewed: %v", err)
			}
			// Read: content, missing, too large (binary-safe).
			req("bin.json", "\x00\xff{}")
			if b, err := s.Read(ctx, "bin.json", 64, nil); err != nil || string(b) != "\x00\xff{}" {
				t.Fatalf("read %q %v", b, err)
			}
			if _, err := s.Read(ctx, "missing.json", 64, nil); !errors.Is(err, queuedir.ErrNotExist) {
				t.Fatalf("missing: %v", err)
			}
			req("big.json", strings.Repeat("x", 65))
			if _, err := s.Read(ctx, "big.json", 64, nil); !errors.Is(err, queuedir.ErrTooLarge) {
				t.Fatalf("too large: %v", err)
			}
			// Write: guarded on the request, never over an existing response, atomic, any size.
			for _, size := range []int{0, 100, 100 << 10} {
				name := "w" + strings.Repeat("x", size%7) + ".json"
				req(name, "{}")
				data := bytes.Repeat([]byte{'a', 0, 0xff, '\n'}, size/4)
				if res, err := s.Write(ctx, name, data, true, false); err != nil || res != queuedir.Wrote {
					t.Fatalf("write %d: %v %v", size, res, err)
				}
				got, _ := os.ReadFile(filepath.Join(dir, "responses", name))
				if !bytes.Equal(got, data) {
					t.Fatalf("response of %d bytes came back as %d", len(data), len(got))
				}
				if res, err := s.Write(ctx, name, []byte("again"), true, false); err != nil || res != queuedir.SkippedExists {
					t.Fatalf("second write: %v %v", res, err)
				}
				_ = os.Remove(filepath.Join(dir, "responses", name))
			}
			req("rm.json", "{}")
			if res, err := s.Write(ctx, "rm.json", []byte("x"), true, true); err != nil || res != queuedir.Wrote {
				t.Fatalf("write and remove: %v %v", res, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "requests", "rm.json")); !os.IsNotExist(err) {
				t.Fatal("request not removed after its response landed")
			}
			_ = os.Remove(filepath.Join(dir, "responses", "rm.json"))
			if res, err := s.Write(ctx, "gone.json", []byte("x"), true, true); err != nil || res != queuedir.SkippedGone {
				t.Fatalf("guarded write: %v %v", res, err)
			}
			if res, err := s.Write(ctx, "unguarded.json", []byte("x"), false, false); err != nil || res != queuedir.Wrote {
				t.Fatalf("unguarded write: %v %v", res, err)
			}
			// Remove: idempotent.
			for i := 0; i < 2; i++ {
				if err := s.Remove(ctx, "a.json"); err != nil {
					t.Fatal(err)
				}
			}
			// Sweep: a dead writer's lock and orphaned temp file go; a live lock stays.
			dead := filepath.Join(dir, "responses", "dead.json"+lockSuffix)
			_ = os.Mkdir(dead, 0o755)
			_ = os.WriteFile(filepath.Join(dead, "pid"), []byte("2147483646\n"), 0o644)
			live := filepath.Join(dir, "responses", "live.json"+lockSuffix)
			_ = os.Mkdir(live, 0o755)
			_ = os.WriteFile(filepath.Join(live, "pid"), []byte(itoaPID()+"\n"), 0o644)
			_ = os.WriteFile(filepath.Join(dir, "responses", "orphan.json.tmp"), []byte("x"), 0o644)
			if err := s.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			left := queuetest.DirEntries(t, filepath.Join(dir, "responses"))
			if !slices.Equal(left, []string{"live.json" + lockSuffix, "unguarded.json"}) {
				t.Fatalf("after sweep: %v", left)
			}
		})
	}
}

func itoaPID() string {
	return strings.TrimSpace(strings.Fields(string(mustRead("/proc/self/stat")))[0])
}

func mustRead(p string) []byte { b, _ := os.ReadFile(p); return b }
