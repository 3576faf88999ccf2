package queue

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// RunAgent is `clipbridge queue-agent`: the queue co-process (coproc_script.go's protocol) as a
// Go program, for execution hosts that already have the clipbridge binary because
// `serve --start-gateway` copied it there. It answers exactly like the shell co-process, but
// watches requests/ with inotify and performs every operation without forking, so a request
// costs a few system calls on the execution host instead of half a dozen processes.
//
// It serves PAPERCLIP_BRIDGE_QUEUE_DIR until stdin closes or ctx ends. Logs go to stderr.
func RunAgent(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	dir := getenv(EnvQueueDir)
	if dir == "" {
		return errors.New(EnvQueueDir + " is required")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "queue_agent")
	st := newLocalStore(dir, log)
	defer st.Close()
	out := bufio.NewWriterSize(stdout, 64<<10)
	if err := st.Prepare(ctx); err != nil {
		fmt.Fprintf(out, ":9 cannot prepare queue directory %s: %s\n", dir, oneLine(err))
		return errors.Join(err, out.Flush())
	}
	// "bash" (wakeable waits) and "gnu head" (any payload size inline) are both true here.
	fmt.Fprintf(out, ":0 hello 1 1 %d\n", time.Now().Unix())
	if err := out.Flush(); err != nil {
		return err
	}
	a := &agent{st: st, out: out, cmds: make(chan agentCmd), done: make(chan struct{})}
	defer close(a.done)
	go a.read(bufio.NewReaderSize(stdin, 64<<10))
	return a.serve(ctx)
}

// agentCmd is one command with its payload (P), or the read error that ends the agent.
type agentCmd struct {
	f       []string
	payload []byte
	err     error
}

type agent struct {
	st      *localStore
	out     *bufio.Writer
	cmds    chan agentCmd
	done    chan struct{} // closed when serve returns: the reader stops sending
	pending *agentCmd
}

// read parses stdin into commands; a P command's payload and trailer are read with it.
func (a *agent) read(r *bufio.Reader) {
	send := func(c agentCmd) bool {
		select {
		case a.cmds <- c:
			return c.err == nil
		case <-a.done:
			return false
		}
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			send(agentCmd{err: err})
			return
		}
		c := agentCmd{f: strings.Fields(line)}
		if len(c.f) >= 5 && c.f[0] == "P" {
			n, perr := strconv.Atoi(c.f[4])
			if perr != nil || n < 0 || n > 1<<30 {
				send(agentCmd{err: fmt.Errorf("bad payload length %q", c.f[4])})
				return
			}
			c.payload = make([]byte, n)
			if _, err := io.ReadFull(r, c.payload); err != nil {
				send(agentCmd{err: err})
				return
			}
			if t, err := r.ReadString('\n'); err != nil || t != "end\n" {
				send(agentCmd{err: errors.New("torn response payload")})
				return
			}
		}
		if !send(c) {
			return
		}
	}
}

func (a *agent) next(ctx context.Context) (agentCmd, bool) {
	if a.pending != nil {
		c := *a.pending
		a.pending = nil
		return c, true
	}
	select {
	case c := <-a.cmds:
		return c, true
	case <-ctx.Done():
		return agentCmd{}, false
	}
}

func (a *agent) serve(ctx context.Context) error {
	for {
		c, ok := a.next(ctx)
		if !ok || c.err != nil {
			return nil // EOF is the host going away: the normal end
		}
		if len(c.f) == 0 {
			continue // a wake that arrived after its wait had ended
		}
		a.do(ctx, c)
		if err := a.out.Flush(); err != nil {
			return err
		}
	}
}

func (a *agent) do(ctx context.Context, c agentCmd) {
	arg := func(i int) string {
		if i < len(c.f) {
			return c.f[i]
		}
		return ""
	}
	name := arg(1)
	if c.f[0] != "W" && c.f[0] != "S" && !validName(name) {
		fmt.Fprintf(a.out, ":9 invalid name\n")
		return
	}
	switch c.f[0] {
	case "W":
		ms, _ := strconv.Atoi(arg(1))
		skip := map[string]bool{}
		for _, n := range c.f[2:] {
			skip[n] = true
		}
		names, err := a.wait(ctx, time.Duration(ms)*time.Millisecond, skip)
		if err != nil {
			a.fail(err, 8, "list failed")
			return
		}
		for _, n := range names {
			fmt.Fprintf(a.out, "N %s\n", n)
		}
		fmt.Fprintf(a.out, ":0\n")
	case "R":
		n, _ := strconv.ParseInt(arg(2), 10, 64)
		a.readFile(name, n)
	case "P":
		res, err := a.st.Write(ctx, name, c.payload, arg(2) == "1", arg(3) == "1")
		switch {
		case errors.Is(err, errLockTimeout):
			fmt.Fprintf(a.out, ":4 %s\n", errLockTimeout)
		case err != nil:
			a.fail(err, 5, "write bridge response failed")
		default:
			fmt.Fprintf(a.out, ":0 %s\n", [...]string{wrote: "wrote", skippedGone: "gone", skippedExists: "exists"}[res])
		}
	case "D":
		if err := a.st.Remove(ctx, name); err != nil {
			a.fail(err, 5, "remove failed")
			return
		}
		fmt.Fprintf(a.out, ":0\n")
	case "S":
		if err := a.st.Sweep(ctx); err != nil {
			a.fail(err, 5, "sweep failed")
			return
		}
		fmt.Fprintf(a.out, ":0\n")
	default:
		fmt.Fprintf(a.out, ":9 unknown command\n")
	}
}

// wait is the store's Wait, also ended by any line from the host (a wake, or a command that is
// then kept for the next turn).
func (a *agent) wait(ctx context.Context, d time.Duration, skip map[string]bool) ([]string, error) {
	deadline := time.Now().Add(d)
	for {
		select {
		case <-a.st.notify:
		default:
		}
		names, err := a.st.listRecover(ctx)
		left := time.Until(deadline)
		if err != nil || hasUnskipped(names, skip) || left <= 0 {
			return names, err
		}
		t := time.NewTimer(min(left, localPollFallback))
		select {
		case <-a.st.notify:
		case <-t.C:
		case c := <-a.cmds:
			t.Stop()
			if len(c.f) > 0 || c.err != nil {
				a.pending = &c
			}
			return a.st.list()
		case <-ctx.Done():
			t.Stop()
			return names, nil
		}
		t.Stop()
	}
}

// fail answers a failed command: a symlinked queue directory as `:7 <why>` (the host logs
// it, so it names the path), anything else as `:<code> <generic>`, as the shell does.
func (a *agent) fail(err error, code int, generic string) {
	if errors.Is(err, errSymlink) {
		fmt.Fprintf(a.out, ":7 %s\n", oneLine(err))
		return
	}
	fmt.Fprintf(a.out, ":%d %s\n", code, generic)
}

// oneLine keeps an error on one status line: a path may contain a newline.
func oneLine(err error) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(err.Error())
}

// readFile answers R like the shell: base64 of at most n bytes (the host judges the size), or
// ":2 missing" for a file that is gone, or is not a regular file.
func (a *agent) readFile(name string, n int64) {
	b, err := a.st.readUpTo(name, n)
	if err != nil {
		a.fail(err, 2, "missing")
		return
	}
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) > 76 {
		a.out.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	if enc != "" {
		a.out.WriteString(enc + "\n")
	}
	fmt.Fprintf(a.out, ":0\n")
}
