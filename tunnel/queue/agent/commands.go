package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// do answers one command the way the shell co-process does.
func (a *agent) do(ctx context.Context, c command) {
	arg := func(i int) string {
		if i < len(c.f) {
			return c.f[i]
		}
		return ""
	}
	name := arg(1)
	if c.f[0] != "W" && c.f[0] != "S" && !queue.ValidName(name) {
		status(a.out, queue.CoprocFatal, "invalid name")
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
			a.fail(err, queue.CoprocListFailed, "list failed")
			return
		}
		for _, n := range names {
			fmt.Fprintf(a.out, "N %s\n", n)
		}
		status(a.out, queue.CoprocOK, "")
	case "R":
		n, _ := strconv.ParseInt(arg(2), 10, 64)
		a.readFile(name, n)
	case "P":
		res, err := a.st.Write(ctx, name, c.payload, arg(2) == "1", arg(3) == "1")
		switch {
		case errors.Is(err, queuedir.ErrLockTimeout):
			status(a.out, queue.CoprocLockTimeout, queuedir.ErrLockTimeout.Error())
		case err != nil:
			a.fail(err, queue.CoprocFailed, "write bridge response failed")
		default:
			status(a.out, queue.CoprocOK, res.String())
		}
	case "D":
		if err := a.st.Remove(ctx, name); err != nil {
			a.fail(err, queue.CoprocFailed, "remove failed")
			return
		}
		status(a.out, queue.CoprocOK, "")
	case "S":
		if err := a.st.Sweep(ctx); err != nil {
			a.fail(err, queue.CoprocFailed, "sweep failed")
			return
		}
		status(a.out, queue.CoprocOK, "")
	default:
		status(a.out, queue.CoprocFatal, "unknown command")
	}
}

// wait is the store's Wait, also ended by any line from the host: a wake, or a command that is
// then kept for the next turn. A stopping agent answers with the listing it has; the host is
// going away.
func (a *agent) wait(ctx context.Context, d time.Duration, skip map[string]bool) ([]string, error) {
	names, c, got, err := queuedir.WaitOr(ctx, a.st, d, skip, a.cmds)
	if got && (len(c.f) > 0 || c.err != nil) {
		a.pending = &c
	}
	if ctx.Err() != nil {
		err = nil
	}
	return names, err
}

// readFile answers R like the shell: base64 of at most n bytes (the host judges the size), or
// ":2 missing" for a file that is gone, or is not a regular file.
func (a *agent) readFile(name string, n int64) {
	b, err := a.st.ReadUpTo(name, n)
	if err != nil {
		a.fail(err, queue.CoprocMissing, "missing")
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
	status(a.out, queue.CoprocOK, "")
}

// fail answers a failed command: a symlinked queue directory as `:7 <why>` (the host logs
// it, so it names the path), anything else as `:<code> <generic>`, as the shell does.
func (a *agent) fail(err error, code int, generic string) {
	if errors.Is(err, queuedir.ErrSymlink) {
		status(a.out, queue.CoprocRefused, oneLine(err))
		return
	}
	status(a.out, code, generic)
}

// status writes the status line that ends every answer: `:<code>`, or `:<code> <text>`.
func status(w io.Writer, code int, text string) {
	if text == "" {
		fmt.Fprintf(w, ":%d\n", code)
		return
	}
	fmt.Fprintf(w, ":%d %s\n", code, text)
}

// oneLine keeps an error on one status line: a path may contain a newline.
func oneLine(err error) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(err.Error())
}
