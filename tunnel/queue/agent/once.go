package agent

import (
	"bufio"
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

// maxOncePayload bounds the one P payload of a batch: a response envelope (6×max body + 64 KiB)
// with room to spare.
const maxOncePayload = 1 << 30

// RunOnce is `clipbridge queue-agent --once`: the co-process protocol's one-shot mode
// (tunnel/queue's coproc.go) for runners that cannot stream. It answers the batch on stdin, then
// runs the L in CB_LOOK, waiting with inotify, and returns. Logs go to stderr.
func RunOnce(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	st, out, err := open(ctx, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	a := &agent{st: st, out: out}
	in := bufio.NewReaderSize(stdin, 64<<10)
	for {
		line, err := in.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			break
		}
		if err != nil {
			return errors.Join(fmt.Errorf("read batch: %w", err), out.Flush())
		}
		c := command{f: strings.Fields(line)}
		if len(c.f) == 0 {
			continue
		}
		if c.f[0] == "P" {
			// The one payload is the rest of stdin: exactly its length, then nothing.
			n, perr := strconv.Atoi(arg(c.f, 4))
			if perr != nil || n < 0 || n > maxOncePayload {
				status(out, queue.CoprocTorn, "torn response payload")
				return errors.Join(fmt.Errorf("bad payload length %q", arg(c.f, 4)), out.Flush())
			}
			c.payload = make([]byte, n)
			_, err := io.ReadFull(in, c.payload)
			if err == nil {
				if _, extra := in.ReadByte(); extra == nil {
					err = errors.New("bytes after the payload") // a length that does not match
				}
			}
			if err != nil {
				status(out, queue.CoprocTorn, "torn response payload")
				return errors.Join(errors.New("torn response payload"), out.Flush())
			}
			a.do(ctx, c)
			break
		}
		if c.f[0] == "W" {
			status(out, queue.CoprocFatal, "unknown command") // nothing can wake a wait here
			continue
		}
		a.do(ctx, c)
	}
	if look := getenv(queue.EnvOnceLook); look != "" {
		a.look(ctx, strings.Fields(look))
	}
	return out.Flush()
}

func arg(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// look is L: `<ms> <total> <each> [skip…]`.
func (a *agent) look(ctx context.Context, f []string) {
	ms, _ := strconv.Atoi(arg(f, 0))
	total, _ := strconv.ParseInt(arg(f, 1), 10, 64)
	each, _ := strconv.ParseInt(arg(f, 2), 10, 64)
	skip := map[string]bool{}
	for _, n := range f[min(3, len(f)):] {
		skip[n] = true
	}
	if err := a.st.Mark(queue.LeaseFile); err != nil && errors.Is(err, queuedir.ErrSymlink) {
		a.fail(err, queue.CoprocListFailed, "list failed")
		return
	}
	names, err := a.st.Wait(ctx, time.Duration(ms)*time.Millisecond, skip)
	if err != nil && ctx.Err() == nil {
		a.fail(err, queue.CoprocListFailed, "list failed")
		return
	}
	for _, n := range names {
		fmt.Fprintf(a.out, "N %s\n", n)
	}
	var used int64
	for _, n := range names {
		if skip[n] {
			continue
		}
		b, err := a.st.ReadUpTo(n, each+1)
		if err != nil || int64(len(b)) > each || used+int64(len(b)) > total {
			continue
		}
		used += int64(len(b))
		fmt.Fprintf(a.out, "C %s\n", n)
		writeBase64(a.out, b)
	}
	status(a.out, queue.CoprocOK, "")
}

// writeBase64 writes b as base64 in lines of 76, as base64(1) does.
func writeBase64(w *bufio.Writer, b []byte) {
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) > 76 {
		w.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	if enc != "" {
		w.WriteString(enc + "\n")
	}
}
