package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/clipbridge/clipbridge/runner/relaywire"
)

// Commands run through the relay behave as through the other runners: argv, script, env, cwd,
// stdin (text and binary), exit codes and bounded output all arrive as given.
func TestRelayRun(t *testing.T) {
	dir := t.TempDir()
	binary := make([]byte, 1<<16)
	_, _ = rand.Read(binary)
	binary[10] = 0 // a NUL, and (almost surely) invalid UTF-8
	r, _ := startRelay(t, 0, executeLocally)
	cases := []struct {
		name       string
		cmd        Command
		stdin      []byte
		wantCode   int
		wantOut    string
		wantErrOut string
		truncated  bool
	}{
		{name: "args", cmd: Command{Args: []string{"echo", "hello", "it's"}}, wantOut: "hello it's\n"},
		{name: "script", cmd: Command{Script: "echo a; echo b >&2; exit 3"}, wantCode: 3, wantOut: "a\n", wantErrOut: "b\n"},
		{name: "env", cmd: Command{Script: `printf '%s|%s' "$A" "$B"`, Env: map[string]string{"A": "x'y\"z", "B": "multi\nline"}}, wantOut: "x'y\"z|multi\nline"},
		{name: "dir", cmd: Command{Script: "pwd", Dir: dir}, wantOut: dir + "\n"},
		{name: "stdin", cmd: Command{Args: []string{"cat"}}, stdin: []byte("line1\nline2"), wantOut: "line1\nline2"},
		{name: "stdin after script", cmd: Command{Script: "read a; read b; echo \"$b$a\""}, stdin: []byte("1\n2\n"), wantOut: "21\n"},
		{name: "binary stdin", cmd: Command{Script: "wc -c | tr -d ' '"}, stdin: binary, wantOut: "65536\n"},
		{name: "binary stdin intact", cmd: Command{Script: "cksum"}, stdin: binary, wantOut: cksum(t, binary)},
		{name: "bounded output", cmd: Command{Script: "printf 0123456789", MaxOutputBytes: 4}, wantOut: "0123", truncated: true},
		{name: "missing dir", cmd: Command{Script: "true", Dir: filepath.Join(dir, "nope")}, wantCode: 127,
			wantErrOut: "*"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := tc.cmd
			if tc.stdin != nil {
				cmd.Stdin = bytes.NewReader(tc.stdin)
			}
			res, err := r.Run(t.Context(), cmd)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErrOut == "*" {
				res.Stderr = []byte("*")
			}
			if res.ExitCode != tc.wantCode || string(res.Stdout) != tc.wantOut || string(res.Stderr) != tc.wantErrOut || res.StdoutTruncated != tc.truncated {
				t.Fatalf("got code=%d out=%q err=%q trunc=%v", res.ExitCode, res.Stdout, res.Stderr, res.StdoutTruncated)
			}
		})
	}
}

func cksum(t *testing.T, b []byte) string {
	t.Helper()
	res, err := NewLocal(LocalOptions{}).Run(t.Context(), Command{Args: []string{"cksum"}, Stdin: bytes.NewReader(b)})
	if err != nil {
		t.Fatal(err)
	}
	return string(res.Stdout)
}

// The request's argv is the constant bootstrap: the secret env value, the working directory
// and the script travel in stdin, never as an argv word the parent or the sandbox would show.
func TestRelaySecretsNotInArgv(t *testing.T) {
	const secret = "s3cr3t-bridge-token-value"
	r, p := startRelay(t, 0, executeLocally)
	for _, stdin := range [][]byte{nil, {0xff, 0}} {
		res, err := r.Run(t.Context(), Command{Script: `echo "${#TOKEN}"`, Env: map[string]string{"TOKEN": secret}, Dir: "/tmp",
			Stdin: bytes.NewReader(stdin)})
		if err != nil || string(res.Stdout) != "25\n" {
			t.Fatalf("got %q, %v", res.Stdout, err)
		}
	}
	reqs := p.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want one per Run", len(reqs))
	}
	for _, req := range reqs {
		argv := strings.Join(append([]string{req.Command}, req.Args...), " ")
		for _, s := range []string{secret, "/tmp", "TOKEN"} {
			if strings.Contains(argv, s) {
				t.Errorf("argv %q shows %q", argv, s)
			}
		}
		if req.Command != "sh" || req.TimeoutMs != DefaultRelayTimeout.Milliseconds() || req.MaxOutputBytes != DefaultMaxOutputBytes {
			t.Errorf("request %+v", req)
		}
	}
}

// A parent that never answers cannot hang Run: it reports a timeout once the command's own
// timeout and the grace have passed, and the slot is free again afterwards.
func TestRelayParentNeverAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, p := pipeRelay(t, 1, func(relaywire.Request) (relaywire.Reply, bool) { return relaywire.Reply{}, false })
		for range 2 { // the second only gets a slot if the first released its own
			start := time.Now()
			res, err := r.Run(t.Context(), Command{Script: "true", Timeout: time.Second})
			if err != nil || !res.TimedOut || res.ExitCode != -1 {
				t.Fatalf("got %+v, %v", res, err)
			}
			if d := time.Since(start); d != time.Second+relayGrace {
				t.Fatalf("gave up after %v", d)
			}
		}
		if n := len(p.requests()); n != 2 {
			t.Fatalf("%d requests reached the parent", n)
		}
	})
}

// A dead parent fails every pending and later Run at once, and Watch reports it, so the
// sidecar can end.
func TestRelayParentDies(t *testing.T) {
	started := make(chan struct{}, 1)
	r, p := startRelay(t, 0, func(relaywire.Request) (relaywire.Reply, bool) {
		started <- struct{}{}
		return relaywire.Reply{}, false
	})
	watch := make(chan error, 1)
	go func() { watch <- r.Watch(t.Context()) }()
	ran := make(chan error, 1)
	go func() {
		_, err := r.Run(t.Context(), Command{Script: "sleep 100", Timeout: time.Hour})
		ran <- err
	}()
	<-started
	_ = p.conn.Close()
	for name, ch := range map[string]chan error{"Run": ran, "Watch": watch} {
		select {
		case err := <-ch:
			if !errors.Is(err, ErrRelayClosed) {
				t.Fatalf("%s: %v, want ErrRelayClosed", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still waits for a dead parent", name)
		}
	}
	if _, err := r.Run(t.Context(), Command{Script: "true"}); !errors.Is(err, ErrRelayClosed) {
		t.Fatalf("Run after the parent died: %v", err)
	}
}

// A parent that sends bytes breaking the protocol (an oversized length, not JSON, a wrong
// type) closes the relay: nothing is allocated for the length, and nothing hangs.
func TestRelayGarbageFromParent(t *testing.T) {
	for name, frame := range map[string][]byte{
		"huge length": binary.BigEndian.AppendUint32(nil, 0xffffffff),
		"zero length": {0, 0, 0, 0},
		"not json":    append(binary.BigEndian.AppendUint32(nil, 5), "hello"...),
		"wrong type":  append(binary.BigEndian.AppendUint32(nil, 16), `{"exitCode":"0"}`...),
		"cut short":   append(binary.BigEndian.AppendUint32(nil, 100), `{"id":1`...),
	} {
		t.Run(name, func(t *testing.T) {
			var once sync.Once
			var conn net.Conn
			r, p := startRelay(t, 0, func(relaywire.Request) (relaywire.Reply, bool) {
				once.Do(func() { _, _ = conn.Write(frame) })
				if name == "cut short" {
					_ = conn.Close()
				}
				return relaywire.Reply{}, false
			})
			conn = p.conn
			done := make(chan error, 1)
			go func() {
				_, err := r.Run(t.Context(), Command{Script: "true", Timeout: time.Hour})
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrRelayClosed) {
					t.Fatalf("Run: %v, want ErrRelayClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run hangs after garbage")
			}
			if err := r.Watch(t.Context()); !errors.Is(err, ErrRelayClosed) {
				t.Fatalf("Watch: %v", err)
			}
		})
	}
}

// An execute that threw comes back as an error, not as a result.
func TestRelayParentError(t *testing.T) {
	r, _ := startRelay(t, 0, func(relaywire.Request) (relaywire.Reply, bool) {
		return relaywire.Reply{Error: "sandbox not found"}, true
	})
	_, err := r.Run(t.Context(), Command{Script: "true"})
	if err == nil || !strings.Contains(err.Error(), "sandbox not found") {
		t.Fatalf("got %v", err)
	}
}

// No more than MaxInFlight commands are ever at the parent, however many Run calls wait.
func TestRelayBoundsConcurrency(t *testing.T) {
	r, p := startRelay(t, 2, func(req relaywire.Request) (relaywire.Reply, bool) {
		time.Sleep(20 * time.Millisecond)
		return executeLocally(req)
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res, err := r.Run(t.Context(), Command{Args: []string{"true"}}); err != nil || res.ExitCode != 0 {
				t.Errorf("got %+v, %v", res, err)
			}
		})
	}
	wg.Wait()
	if p.maxInFlight != 2 {
		t.Fatalf("parent had %d in flight at most, want 2", p.maxInFlight)
	}
}

// A Run whose context ends returns at once, but its command still holds its slot until the
// parent answers (the parent cannot cancel execute); the reply that then arrives is dropped.
func TestRelayCancelKeepsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		answer := make(chan struct{})
		r, p := pipeRelay(t, 1, func(req relaywire.Request) (relaywire.Reply, bool) {
			if strings.Contains(req.Stdin, "first") {
				<-answer
			}
			code := 0
			return relaywire.Reply{ExitCode: &code, Stdout: "ok"}, true
		})
		ctx, cancel := context.WithCancel(t.Context())
		first := make(chan error, 1)
		go func() { _, err := r.Run(ctx, Command{Script: "echo first", Timeout: time.Minute}); first <- err }()
		synctest.Wait()
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Run: %v", err)
		}
		second := make(chan string, 1)
		go func() {
			res, _ := r.Run(t.Context(), Command{Script: "echo second", Timeout: time.Minute})
			second <- string(res.Stdout)
		}()
		synctest.Wait()
		if n := len(p.requests()); n != 1 {
			t.Fatalf("%d requests at the parent while the cancelled one still runs there", n)
		}
		close(answer)
		if out := <-second; out != "ok" {
			t.Fatalf("second Run got %q", out)
		}
	})
}

// Stdin over the limit is refused before anything is sent.
func TestRelayStdinLimit(t *testing.T) {
	r, p := startRelay(t, 0, executeLocally)
	big := bytes.NewReader(make([]byte, relaywire.MaxStdinBytes+1))
	if _, err := r.Run(t.Context(), Command{Args: []string{"cat"}, Stdin: big}); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("got %v", err)
	}
	if n := len(p.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestRelayIsOneShot(t *testing.T) {
	r, _ := startRelay(t, 0, executeLocally)
	if _, err := r.Start(t.Context(), Command{Script: "cat"}); !errors.Is(err, ErrOneShot) {
		t.Fatalf("Start: %v", err)
	}
	if !IsOneShot(r) || IsOneShot(NewLocal(LocalOptions{})) {
		t.Fatal("IsOneShot")
	}
	ex, err := NewExec(ExecOptions{Prefix: testPrefix, OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Start(t.Context(), Command{Script: "cat"}); !errors.Is(err, ErrOneShot) || !IsOneShot(ex) {
		t.Fatalf("one-shot exec: Start %v", err)
	}
	if res, err := ex.Run(t.Context(), Command{Script: "echo $X", Env: map[string]string{"X": "ok"}}); err != nil || string(res.Stdout) != "ok\n" {
		t.Fatalf("one-shot exec: Run %q %v", res.Stdout, err)
	}
}

// OpenRelayFD takes a socket and closes the inherited descriptor (a child must not inherit a
// channel to the parent); anything else it refuses without closing it.
func TestOpenRelayFD(t *testing.T) {
	fd, _ := socketPair(t)
	conn, err := OpenRelayFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("inherited fd %d still open after OpenRelayFD (%v)", fd, err)
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "not-a-socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := OpenRelayFD(int(f.Fd())); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("a file: %v", err)
	}
	if _, err := f.WriteString("still open"); err != nil {
		t.Fatalf("OpenRelayFD closed a descriptor it refused: %v", err)
	}
	if _, err := OpenRelayFD(1 << 20); err == nil {
		t.Fatal("an unused descriptor was accepted")
	}
}

// pipeRelay connects a Relay to a fake parent over net.Pipe, whose blocking is visible to
// testing/synctest (a real socket's is not).
func pipeRelay(t *testing.T, maxInFlight int, handle func(relaywire.Request) (relaywire.Reply, bool)) (*Relay, *fakeParent) {
	t.Helper()
	sc, pc := net.Pipe()
	return relayWithParent(t, sc, pc, maxInFlight, handle)
}
