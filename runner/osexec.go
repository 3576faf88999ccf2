package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// waitDelay bounds how long Wait lingers after the command exits (or is killed) while a
// grandchild still holds its stdout/stderr open; without it a backgrounded child could hang Run.
const waitDelay = 2 * time.Second

// osCommand is one local process as both the local and exec runners start it.
type osCommand struct {
	argv  []string
	env   []string // full environment; nil inherits ours, less SecretEnv
	dir   string
	stdin io.Reader
}

// newCmd builds an exec.Cmd in its own process group, so a kill reaches the children of `sh`
// too (a timed-out `sh -c 'sleep 100'` must not leave the sleep behind).
func (o osCommand) newCmd(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, o.argv[0], o.argv[1:]...)
	cmd.Env = o.env
	if cmd.Env == nil {
		cmd.Env = inheritedEnv()
	}
	cmd.Dir = o.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = waitDelay
	return cmd
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	// Negative pid: the whole group. ESRCH means it is already gone.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// run runs the command to completion, bounded by c.Timeout and c.MaxOutputBytes.
func (o osCommand) run(ctx context.Context, c Command) (Result, error) {
	runCtx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := o.newCmd(runCtx)
	if o.stdin != nil {
		cmd.Stdin = o.stdin
	}
	stdout, stderr := newBoundedBuffer(c.maxOutput()), newBoundedBuffer(c.maxOutput())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start %s: %w", o.argv[0], err)
	}
	waitErr := cmd.Wait()
	res := Result{ExitCode: cmd.ProcessState.ExitCode()}
	res.Stdout, res.StdoutTruncated = stdout.result()
	res.Stderr, res.StderrTruncated = stderr.result()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if runCtx.Err() != nil {
		res.TimedOut, res.ExitCode = true, -1
		return res, nil
	}
	// An exit status is a result; only I/O trouble (e.g. WaitDelay expiring) is an error.
	if _, ok := errors.AsType[*exec.ExitError](waitErr); waitErr != nil && !ok {
		return res, fmt.Errorf("wait %s: %w", o.argv[0], waitErr)
	}
	return res, nil
}

// start starts the command with live pipes; prefix is written to its stdin first.
func (o osCommand) start(ctx context.Context, prefix []byte) (Process, error) {
	cmd := o.newCmd(ctx)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.argv[0], err)
	}
	p := &osProcess{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(prefix) > 0 {
		if _, err := stdin.Write(prefix); err != nil {
			_ = p.Kill()
			_, _ = p.Wait()
			return nil, fmt.Errorf("write command prelude: %w", err)
		}
	}
	return p, nil
}

// osProcess adapts exec.Cmd to Process.
type osProcess struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr io.Reader
}

func (p *osProcess) Stdin() io.WriteCloser { return p.stdin }
func (p *osProcess) Stdout() io.Reader     { return p.stdout }
func (p *osProcess) Stderr() io.Reader     { return p.stderr }
func (p *osProcess) Kill() error           { return killGroup(p.cmd) }

func (p *osProcess) Wait() (int, error) {
	err := p.cmd.Wait()
	code := p.cmd.ProcessState.ExitCode()
	if _, ok := errors.AsType[*exec.ExitError](err); ok {
		err = nil
	}
	return code, err
}

// SecretEnv names the variables that carry the sidecar's own secrets (config's secret settings).
// The commands a runner starts never inherit them: a local "sandbox" gateway, or the docker
// client of an exec prefix, has no business holding the run token.
var SecretEnv = []string{"CLIPBRIDGE_RUN_TOKEN", "CLIPBRIDGE_BRIDGE_TOKEN", "CLIPBRIDGE_SSH_KEY", "CLIPBRIDGE_SSH_KEY_PASSPHRASE"}

// inheritedEnv is our environment as the commands we start get it.
func inheritedEnv() []string {
	env := os.Environ()
	kept := env[:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(SecretEnv, name) {
			kept = append(kept, kv)
		}
	}
	return kept
}

// environ returns the inherited environment with extra appended; later entries win in exec.
func environ(extra map[string]string) []string {
	env := inheritedEnv()
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}
