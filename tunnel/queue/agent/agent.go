package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// Run is `clipbridge queue-agent`. It serves PAPERCLIP_BRIDGE_QUEUE_DIR until stdin closes or
// ctx ends. Logs go to stderr.
func Run(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	st, out, err := open(ctx, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := out.Flush(); err != nil {
		return err
	}
	a := &agent{st: st, out: out, cmds: make(chan command), done: make(chan struct{})}
	defer close(a.done)
	go a.read(bufio.NewReaderSize(stdin, 64<<10))
	return a.serve(ctx)
}

// open is the start both modes share: the queue directory prepared (or the fatal status that
// says why not) and the hello, buffered in out. The caller closes the store.
func open(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) (*queuedir.Store, *bufio.Writer, error) {
	dir := getenv(queue.EnvQueueDir)
	if dir == "" {
		return nil, nil, errors.New(queue.EnvQueueDir + " is required")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "queue_agent")
	st := queuedir.New(dir, log)
	out := bufio.NewWriterSize(stdout, 64<<10)
	if err := st.Prepare(ctx); err != nil {
		st.Close()
		status(out, queue.CoprocFatal, "cannot prepare queue directory "+dir+": "+oneLine(err))
		return nil, nil, errors.Join(err, out.Flush())
	}
	// "bash" (wakeable waits) and "gnu head" (any payload size inline) are both true here.
	status(out, queue.CoprocOK, fmt.Sprintf("hello 1 1 %d", time.Now().Unix()))
	return st, out, nil
}

// agent answers one host's commands, one at a time, in order.
type agent struct {
	st      *queuedir.Store
	out     *bufio.Writer
	cmds    chan command
	done    chan struct{} // closed when serve returns: the reader stops sending
	pending *command      // a command that ended a wait, answered next
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

func (a *agent) next(ctx context.Context) (command, bool) {
	if a.pending != nil {
		c := *a.pending
		a.pending = nil
		return c, true
	}
	select {
	case c := <-a.cmds:
		return c, true
	case <-ctx.Done():
		return command{}, false
	}
}
