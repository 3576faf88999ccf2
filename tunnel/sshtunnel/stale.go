package sshtunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/clipbridge/clipbridge/sshconn"
)

// remoteProcess identifies the process on the execution host that serves one
// SSH connection (OpenSSH's per-connection "sshd: user@notty" process, the
// parent of any command it runs). StartTime, from /proc/PID/stat, guards
// against the pid having been reused by the time we act on it.
type remoteProcess struct {
	PID       int
	StartTime string
}

func (p remoteProcess) String() string { return strconv.Itoa(p.PID) }

// remoteExecTimeout bounds the tiny helper commands run at connect time, so
// a wedged exec cannot stall a reconnect.
const remoteExecTimeout = 10 * time.Second

// procStartTime prints field 22 (starttime) of /proc/$p/stat. Fields are
// counted after the last ')' because the command name may contain spaces.
const procStartTime = `sed 's/^.*) //' /proc/$p/stat | cut -d' ' -f20`

// probeScript prints "PID STARTTIME": the parent of this shell is the
// process serving the SSH connection. STARTTIME is empty without /proc.
const probeScript = `p=$PPID; s=; [ -r /proc/$p/stat ] && s=$(` + procStartTime + `); echo "$p $s"`

// killScript ends a stale serving process: SIGTERM, then SIGKILL after about
// two seconds. It refuses to touch the process serving the connection it
// runs on (that one is not stale), and a pid whose start time changed (the
// old process is gone and the pid reused). It prints one verdict word. One
// line, so that it survives any login shell's quoting.
const killScript = `p=%d; s='%s'; ` +
	`if [ "$p" = "$PPID" ]; then echo self; exit 0; fi; ` +
	`if [ -n "$s" ]; then ` +
	`[ -r /proc/$p/stat ] || { echo gone; exit 0; }; ` +
	`[ "$(` + procStartTime + `)" = "$s" ] || { echo gone; exit 0; }; fi; ` +
	`if ! err=$(kill -TERM "$p" 2>&1); then ` +
	`case $err in *ermitted*) echo denied ;; *) echo gone ;; esac; exit 0; fi; ` +
	`i=0; while kill -0 "$p" 2>/dev/null; do i=$((i+1)); ` +
	`if [ $i -gt 20 ]; then kill -KILL "$p" 2>/dev/null; echo killed; exit 0; fi; ` +
	`sleep 0.1 2>/dev/null || sleep 1; done; echo ended`

// probeServingProcess learns which remote process serves conn.
func probeServingProcess(ctx context.Context, client *ssh.Client) (remoteProcess, error) {
	out, err := runRemote(ctx, client, probeScript)
	if err != nil {
		return remoteProcess{}, err
	}
	return parseProbe(out)
}

// parseProbe parses probeScript's output: its last line, since a login
// profile may print something first.
func parseProbe(out string) (remoteProcess, error) {
	fields := strings.Fields(lastLine(out))
	if len(fields) == 0 || len(fields) > 2 {
		return remoteProcess{}, fmt.Errorf("unexpected probe output %q", out)
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 1 {
		return remoteProcess{}, fmt.Errorf("unexpected probe pid %q", fields[0])
	}
	p := remoteProcess{PID: pid}
	if len(fields) == 2 {
		if _, err := strconv.ParseUint(fields[1], 10, 64); err != nil {
			return remoteProcess{}, fmt.Errorf("unexpected probe start time %q", fields[1])
		}
		p.StartTime = fields[1]
	}
	return p, nil
}

// Verdicts printed by killScript.
const (
	staleEnded  = "ended"  // exited after SIGTERM
	staleKilled = "killed" // needed SIGKILL
	staleGone   = "gone"   // already gone
	staleSelf   = "self"   // it serves the current connection: not stale
	staleDenied = "denied" // owned by another user
)

// endStaleProcess runs killScript for p over client and returns its verdict.
func endStaleProcess(ctx context.Context, client *ssh.Client, p remoteProcess) (string, error) {
	out, err := runRemote(ctx, client, fmt.Sprintf(killScript, p.PID, p.StartTime))
	if err != nil {
		return "", err
	}
	switch v := lastLine(out); v {
	case staleEnded, staleKilled, staleGone, staleSelf, staleDenied:
		return v, nil
	default:
		return "", fmt.Errorf("unexpected output %q", v)
	}
}

// runRemote runs script with sh, whatever the login shell, and returns
// stdout, giving up after remoteExecTimeout or when ctx ends.
func runRemote(ctx context.Context, client *ssh.Client, script string) (string, error) {
	sess, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	ctx, cancel := context.WithTimeout(ctx, remoteExecTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()
	if err := sess.Run("exec sh -c " + sshconn.Quote(script)); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("remote helper command: %w", ctx.Err())
		}
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("remote helper command exited %d: %s", ee.ExitStatus(), firstLine(stderr.String()))
		}
		return "", err
	}
	return stdout.String(), nil
}

// lastLine returns the last non-empty line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
