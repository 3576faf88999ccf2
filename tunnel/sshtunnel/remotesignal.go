package sshtunnel

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// pidMarker prefixes the line the command prelude prints on stdout before
// exec'ing the command: "clipbridge-run-pid=<pid>". RunCommand strips it.
const pidMarker = "clipbridge-run-pid="

// markerWriter passes a command's stdout through, minus the prelude's pid
// line, which it parses. Lines before the marker (a noisy login profile)
// pass through unchanged.
type markerWriter struct {
	dst  io.Writer
	pid  atomic.Int64
	mu   sync.Mutex
	done bool
	line []byte // partial line while looking for the marker
}

// maxMarkerLine bounds buffering while looking for the marker.
const maxMarkerLine = 4 << 10

func (w *markerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for !w.done && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.line = append(w.line, p...)
			if len(w.line) > maxMarkerLine {
				line := w.line
				w.done, w.line = true, nil
				return n, w.flush(line)
			}
			return n, nil
		}
		line := append(w.line, p[:i+1]...)
		w.line, p = nil, p[i+1:]
		if pid, ok := parseMarker(line); ok {
			w.pid.Store(int64(pid))
			w.done = true
			break
		}
		if err := w.flush(line); err != nil {
			return n, err
		}
	}
	if len(p) > 0 {
		return n, w.flush(p)
	}
	return n, nil
}

// finish passes on a partial line still held while looking for the marker,
// once the command's output has ended.
func (w *markerWriter) finish() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	line := w.line
	w.line = nil
	if len(line) == 0 {
		return nil
	}
	return w.flush(line)
}

func (w *markerWriter) flush(p []byte) error {
	_, err := w.dst.Write(p)
	return err
}

func parseMarker(line []byte) (int, bool) {
	s, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte(pidMarker))
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(string(s))
	return pid, err == nil && pid > 1
}

// remoteSignal delivers sig to the remote command. It first uses the SSH
// "signal" channel request with a reply, so a refusal is visible: OpenSSH
// refuses it for root logins ("session signalling requires privilege
// separation") and some servers do not implement it. Only then does it fall
// back to running kill on the execution host against the command's process
// group, so the command never gets the signal twice.
func remoteSignal(ctx context.Context, client *ssh.Client, sess *ssh.Session, pid int, sig ssh.Signal) error {
	ok, err := sess.SendRequest("signal", true, ssh.Marshal(struct{ Signal string }{string(sig)}))
	if err == nil && ok {
		return nil
	}
	if pid <= 1 {
		return fmt.Errorf("signal %s refused by the server and the remote pid is unknown", sig)
	}
	// The session's first process is a session and process-group leader
	// (sshd calls setsid), and the prelude exec'd the command in place, so
	// -PID is the command's group, as sshd's own killpg would target.
	_, err = runRemote(ctx, client, fmt.Sprintf("kill -s %s -- -%d 2>/dev/null || kill -s %s %d", sig, pid, sig, pid))
	return err
}
