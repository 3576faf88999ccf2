package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// writeQueueRequest publishes a plain Paperclip request envelope the way its gateway does.
func writeQueueRequest(t *testing.T, reqDir, id string) {
	t.Helper()
	env := `{"id":"` + id + `","method":"GET","path":"/api/agents/me","query":"","headers":{},"body":"","createdAt":"` +
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + `"}` + "\n"
	p := filepath.Join(reqDir, id+".json")
	if err := writeFile(p+".tmp", env); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

// Issue 10, finding 2, black-box: the sandbox writes the queue directory that `serve
// --runner local` serves on the control plane. A link it plants at a response temp file, or
// in place of requests/, must not make the sidecar change, delete or read a file outside it.
func TestQueueLocalRunnerConfinedToQueueDir(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	dir := filepath.Join(t.TempDir(), "queue")
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := writeFile(victim, "precious\n"); err != nil {
		t.Fatal(err)
	}
	s := startSidecar(t, baseEnv(up.URL), "serve", "--queue-dir", dir, "--runner", "local", "--drain-timeout", "500ms")

	// A link at responses/<id>.json.tmp, pointing at a host file.
	id := "11111111-1111-4111-8111-111111111111"
	if err := os.Symlink(victim, filepath.Join(dir, "responses", id+".json.tmp")); err != nil {
		t.Fatal(err)
	}
	writeQueueRequest(t, filepath.Join(dir, "requests"), id)
	resp := filepath.Join(dir, "responses", id+".json")
	testsupport.Eventually(t, "the response", 15*time.Second, func() bool { _, err := os.Lstat(resp); return err == nil })
	if fi, err := os.Lstat(resp); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("response is not a regular file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(resp); !strings.Contains(string(b), `"status":200`) {
		t.Errorf("response %s", b)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the file the planted link led to now holds %q", b)
	}

	// requests/ swapped for a link to a host directory that holds a request-looking file.
	elsewhere := t.TempDir()
	id2 := "22222222-2222-4222-8222-222222222222"
	writeQueueRequest(t, elsewhere, id2)
	before, _ := os.ReadFile(filepath.Join(elsewhere, id2+".json"))
	// The worker recreates a removed requests/ at once, so swap until the link wins the race.
	testsupport.Eventually(t, "requests/ swapped for a link", 15*time.Second, func() bool {
		_ = os.RemoveAll(filepath.Join(dir, "requests"))
		return os.Symlink(elsewhere, filepath.Join(dir, "requests")) == nil
	})
	want := filepath.Join(dir, "requests") + " is a symlink"
	testsupport.Eventually(t, "a log line naming the symlinked requests/ (or the damage)", 15*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(elsewhere, id2+".json"))
		return strings.Contains(s.stderr.String(), want) || err != nil || len(up.Requests()) > 1
	})
	if !strings.Contains(s.stderr.String(), want) {
		t.Errorf("no log line naming the symlinked requests/")
	}
	if after, err := os.ReadFile(filepath.Join(elsewhere, id2+".json")); err != nil || string(after) != string(before) {
		t.Errorf("the request outside the queue was changed or removed: %v", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 1 {
		t.Errorf("outside directory now holds %d entries, want 1", len(entries))
	}
	if n := len(up.Requests()); n != 1 {
		t.Errorf("upstream saw %d requests, want only the one from the queue", n)
	}

	sendSignal(t, s, syscall.SIGTERM)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.stderr.String())
	}
}
