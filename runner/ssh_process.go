package runner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshProcess adapts a session to Process.
type sshProcess struct {
	r       *SSH
	pid     *pidCapture
	sess    *ssh.Session
	stdin   io.WriteCloser
	stdout  io.Reader
	stderr  io.Reader
	done    chan struct{}
	waitErr error
	once    sync.Once
}

func (p *sshProcess) Stdin() io.WriteCloser { return p.stdin }
func (p *sshProcess) Stdout() io.Reader     { return p.stdout }
func (p *sshProcess) Stderr() io.Reader     { return p.stderr }

// Kill ends the remote command (see SSH.kill) and closes the session.
func (p *sshProcess) Kill() error {
	p.once.Do(func() { p.r.kill(p.sess, p.pid) })
	return nil
}

// Wait implements Process.
func (p *sshProcess) Wait() (int, error) {
	<-p.done
	if exitErr, ok := errors.AsType[*ssh.ExitError](p.waitErr); ok {
		if exitErr.Signal() != "" {
			return -1, nil
		}
		return exitErr.ExitStatus(), nil
	}
	if p.waitErr != nil {
		return -1, p.waitErr
	}
	return 0, nil
}

// The prelude of SSH commands starts by reporting the remote shell's pid on stderr (pidReport),
// so a timeout can kill it: sshd runs each session's command in its own session and process
// group, so killing that group takes the command's children too.

// killWait bounds the wait for a killed remote command to report its end.
const killWait = 5 * time.Second

// kill ends a remote command: a signal request (sshd honours it only with privilege separation)
// and, since that is not dependable, `kill -9` of its process group (else its pid) through a
// second session; then the session is closed.
func (s *SSH) kill(sess *ssh.Session, pid *pidCapture) {
	_ = sess.Signal(ssh.SIGKILL)
	if n := pid.get(); n > 1 {
		if cl, err := s.client(context.Background()); err == nil {
			if ks, err := cl.NewSession(); err == nil {
				s.execs.Inc()
				id := strconv.Itoa(n)
				_ = ks.Run("kill -9 -" + id + " 2>/dev/null || kill -9 " + id)
				_ = ks.Close()
			}
		}
	}
	_ = sess.Close()
}

// pidCapture takes the first stderr line of a bootstrapped command ("__cbpid <pid>") and
// passes everything after it to w unchanged.
type pidCapture struct {
	mu     sync.Mutex
	w      io.Writer
	header []byte
	done   bool
	pid    int
}

func newPIDCapture(w io.Writer) *pidCapture { return &pidCapture{w: w} }

// Write implements io.Writer.
func (p *pidCapture) Write(b []byte) (int, error) {
	p.mu.Lock()
	if !p.done {
		i := bytes.IndexByte(b, '\n')
		if i < 0 && len(p.header)+len(b) < 64 {
			p.header = append(p.header, b...)
			p.mu.Unlock()
			return len(b), nil
		}
		rest := b
		if i >= 0 {
			p.header, rest = append(p.header, b[:i]...), b[i+1:]
		} else {
			rest = nil
			p.header = append(p.header, b...)
		}
		p.done = true
		if v, ok := strings.CutPrefix(string(p.header), "__cbpid "); ok {
			p.pid, _ = strconv.Atoi(strings.TrimSpace(v))
		} else {
			// Not our line (an older shell profile printed first): pass it through.
			rest = append(append(p.header, '\n'), rest...)
		}
		p.mu.Unlock()
		if len(rest) > 0 {
			if _, err := p.w.Write(rest); err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	p.mu.Unlock()
	return p.w.Write(b)
}

func (p *pidCapture) get() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}
