package sshtunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/clipbridge/clipbridge/sshconn"
)

// Exit statuses RunCommand returns besides the command's own.
const (
	// ExitNoStatus is returned, with an error, when the command's fate is
	// unknown: the connection was lost or the session could not start
	// (OpenSSH's ssh uses the same number).
	ExitNoStatus = 255
	// ExitPrelude is the remote status when the prelude could not read the
	// bridge token from stdin.
	ExitPrelude = 125
)

// DefaultKillGrace is how long a command may take to exit after SIGTERM
// once RunCommand's context ends, before it is sent SIGKILL.
const DefaultKillGrace = 5 * time.Second

// Command is a program to run on the execution host over the tunnel's SSH
// connection, with the agent environment set for it.
type Command struct {
	// Argv is the program and its arguments, passed exactly as given (each
	// is quoted for the remote shell). Required.
	Argv []string
	// BridgeToken becomes PAPERCLIP_API_KEY. Secret: it travels as the first
	// line of the session's stdin, read by a small sh prelude, so it is
	// never on a command line (remote ps) and needs no AcceptEnv on a stock
	// sshd.
	BridgeToken string
	// Stdin is passed to the command after the token line; nil means empty.
	// RunCommand does not close it; a Stdin that blocks after the command
	// exits (a terminal) keeps one copying goroutine until its Read returns.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout, Stderr io.Writer
	// Signals are forwarded to the remote command (SIGINT, SIGTERM, SIGHUP,
	// SIGQUIT, SIGUSR1, SIGUSR2, SIGKILL; others are ignored). The caller
	// typically relays signal.Notify here. May be nil.
	Signals <-chan os.Signal
	// KillGrace is how long the command may take to exit after the SIGTERM
	// sent when ctx ends; 0 means DefaultKillGrace.
	KillGrace time.Duration
}

// RunCommand runs cmd on the execution host once the tunnel is up, with
// PAPERCLIP_API_URL, PAPERCLIP_API_KEY and PAPERCLIP_API_BRIDGE_MODE=queue_v1
// set, streams its output and returns its exit status (128+N when killed by
// signal N). When ctx ends the command gets SIGTERM, then SIGKILL after
// KillGrace. If its exit status is unknown (connection lost) the result is
// ExitNoStatus and an error.
func (t *Tunnel) RunCommand(ctx context.Context, cmd Command) (int, error) {
	if len(cmd.Argv) == 0 {
		return ExitNoStatus, errors.New("sshtunnel: empty command")
	}
	if cmd.BridgeToken == "" || strings.ContainsAny(cmd.BridgeToken, "\r\n\x00") {
		return ExitNoStatus, errors.New("sshtunnel: bridge token must be one non-empty line")
	}
	client, err := t.Client(ctx)
	if err != nil {
		return ExitNoStatus, err
	}
	remote, err := remoteCommand(t.URL(), cmd.Argv)
	if err != nil {
		return ExitNoStatus, err
	}
	sess, err := client.NewSession()
	if err != nil {
		return ExitNoStatus, fmt.Errorf("remote command: open session: %w", err)
	}
	defer sess.Close()
	stdin := cmd.Stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	sess.Stdin = io.MultiReader(strings.NewReader(cmd.BridgeToken+"\n"), stdin)
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	stdout := &markerWriter{dst: cmd.Stdout}
	sess.Stdout, sess.Stderr = stdout, cmd.Stderr
	if err := sess.Start(remote); err != nil {
		return ExitNoStatus, fmt.Errorf("remote command: start: %w", err)
	}
	waitDone := make(chan error, 1)
	go func() { waitDone <- sess.Wait() }()

	grace := cmd.KillGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	signal := func(sig ssh.Signal) {
		// Delivery must not wait on ctx, which may be what just ended.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteExecTimeout)
		defer cancel()
		if err := remoteSignal(sctx, client, sess, int(stdout.pid.Load()), sig); err != nil {
			t.opts.Logger.Warn("signal not delivered to remote command", "signal", string(sig), "error", err)
		}
	}
	var (
		ctxDone = ctx.Done()
		killC   <-chan time.Time
		closeC  <-chan time.Time
	)
	for {
		select {
		case err := <-waitDone:
			_ = stdout.finish()
			return exitStatus(err)
		case sig := <-cmd.Signals:
			if s, ok := sshSignal(sig); ok {
				signal(s)
			}
		case <-ctxDone:
			ctxDone = nil
			signal(ssh.SIGTERM)
			killC = time.After(grace)
		case <-killC:
			killC = nil
			signal(ssh.SIGKILL)
			// Give the exit status a moment to arrive, then stop waiting
			// for a command that could not be killed.
			closeC = time.After(2 * time.Second)
		case <-closeC:
			_ = sess.Close()
			_ = stdout.finish()
			return ExitNoStatus, errors.New("remote command did not exit after SIGKILL; abandoned")
		}
	}
}

// remoteCommand builds the command line sent to sshd. The login shell runs
// `exec sh -c PRELUDE clipbridge-run URL ARGV...`; the prelude reads the
// token from stdin, reports its pid on stdout (stripped by markerWriter),
// exports the three variables and execs ARGV, so the command keeps the
// session's pid and process group, which is what signals target.
func remoteCommand(url string, argv []string) (string, error) {
	args, err := sshconn.QuoteArgs(argv)
	if err != nil {
		return "", fmt.Errorf("sshtunnel: %w", err)
	}
	const prelude = `IFS= read -r PAPERCLIP_API_KEY || exit 125; echo "` + pidMarker + `$$"; ` +
		`PAPERCLIP_API_URL=$1; PAPERCLIP_API_BRIDGE_MODE=queue_v1; ` +
		`export PAPERCLIP_API_KEY PAPERCLIP_API_URL PAPERCLIP_API_BRIDGE_MODE; shift; exec "$@"`
	return "exec sh -c " + sshconn.Quote(prelude) + " clipbridge-run " + sshconn.Quote(url) + " " + args, nil
}

// exitStatus maps a session result to an exit status.
func exitStatus(err error) (int, error) {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitStatus(), nil
	case errors.As(err, &missing):
		return ExitNoStatus, errors.New("remote command ended without an exit status (ssh connection lost?)")
	default:
		return ExitNoStatus, fmt.Errorf("remote command: %w", err)
	}
}

// sshSignal maps a local signal to its RFC 4254 name.
func sshSignal(s os.Signal) (ssh.Signal, bool) {
	switch s {
	case syscall.SIGINT:
		return ssh.SIGINT, true
	case syscall.SIGTERM:
		return ssh.SIGTERM, true
	case syscall.SIGHUP:
		return ssh.SIGHUP, true
	case syscall.SIGQUIT:
		return ssh.SIGQUIT, true
	case syscall.SIGUSR1:
		return ssh.SIGUSR1, true
	case syscall.SIGUSR2:
		return ssh.SIGUSR2, true
	case syscall.SIGKILL:
		return ssh.SIGKILL, true
	default:
		return "", false
	}
}
