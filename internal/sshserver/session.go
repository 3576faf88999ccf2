package sshserver

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// signalNumbers maps RFC 4254 §6.10 signal names to local signals.
var signalNumbers = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE,
	"HUP": syscall.SIGHUP, "ILL": syscall.SIGILL, "INT": syscall.SIGINT,
	"KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE, "QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// session serves one "session" channel: a single exec request runs
// /bin/sh -c COMMAND in its own process group; "signal" requests reach that
// group; "env", "shell" and "pty-req" are refused like a stock sshd without
// AcceptEnv.
func (c *conn) session(nch ssh.NewChannel) {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()

	var (
		mu      sync.Mutex
		cmd     *exec.Cmd
		exited  = make(chan struct{})
		started bool
	)
	var wg sync.WaitGroup
	defer wg.Wait()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			mu.Lock()
			if started || ssh.Unmarshal(req.Payload, &p) != nil {
				mu.Unlock()
				_ = req.Reply(false, nil)
				continue
			}
			cmd = exec.Command("/bin/sh", "-c", p.Command)
			// Built from scratch, never inherited: the agent's commands must not see the
			// secrets of the process hosting us. (runner.ChildEnv cannot be used here:
			// sshconn's tests import this package, and runner imports sshconn.) A fixed PATH
			// keeps commands independent of how the test was run.
			cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + os.Getenv("HOME"), "SHELL=/bin/sh"}
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			// Our own stdin copy, not exec's: Wait must not wait for a
			// client that keeps stdin open after the command has exited.
			stdin, err := cmd.StdinPipe()
			if err == nil {
				err = cmd.Start()
			}
			if err != nil {
				mu.Unlock()
				_ = req.Reply(false, nil)
				continue
			}
			started = true
			mu.Unlock()
			_ = req.Reply(true, nil)
			wg.Go(func() {
				_, _ = io.Copy(stdin, ch)
				_ = stdin.Close()
			})
			wg.Go(func() {
				defer close(exited)
				c.reportExit(ch, cmd.Wait())
				_ = ch.Close()
			})
		case "signal":
			var p struct{ Signal string }
			_ = ssh.Unmarshal(req.Payload, &p)
			mu.Lock()
			sig, ok := signalNumbers[p.Signal]
			ok = ok && started
			if ok {
				// Negative pid: the whole process group, like sshd's killpg.
				ok = syscall.Kill(-cmd.Process.Pid, sig) == nil
			}
			mu.Unlock()
			if req.WantReply {
				_ = req.Reply(ok, nil)
			}
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
	// The channel is gone (client closed it or the connection died): end
	// a command that is still running so Close never waits on it forever.
	mu.Lock()
	if started {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	mu.Unlock()
}

// reportExit sends exit-status, or exit-signal for a command killed by a
// signal, as RFC 4254 §6.10 describes.
func (c *conn) reportExit(ch ssh.Channel, err error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			name := "KILL"
			for n, s := range signalNumbers {
				if s == ws.Signal() {
					name = n
				}
			}
			_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Msg        string
				Lang       string
			}{name, ws.CoreDump(), "", ""}))
			return
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(ee.ExitCode())}))
		return
	}
	status := uint32(0)
	if err != nil {
		status = 255
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}
