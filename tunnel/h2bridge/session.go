package h2bridge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/clipbridge/clipbridge/runner"
)

// Session limits: Paperclip's host values where it names one (64
// streams, a 16 KiB header list, PING every 5 s with a 20 s stall limit).
const (
	maxConcurrentStreams = 64
	maxHeaderListBytes   = 16 << 10
	// headerTableBytes keeps HPACK's default dynamic table both ways.
	headerTableBytes = 4096
	// maxFrameBytes is HTTP/2's minimum and default frame size.
	maxFrameBytes = 16 << 10
	// Session memory: whatever the number of streams, the gateway can
	// have at most connReceiveWindow bytes of request bodies in flight
	// to us (flow control), each stream at most streamReceiveWindow, and
	// a stream's response waits on the gateway's window in turn; header
	// blocks are bounded by maxHeaderListBytes per stream. About 2 MiB
	// per session in all, under Paperclip's 16 MiB.
	connReceiveWindow   = 1 << 20
	streamReceiveWindow = 256 << 10
	pingInterval        = 5 * time.Second
	pingStallLimit      = 20 * time.Second
	// reapWait bounds the wait for a killed gateway's stderr to close.
	reapWait = 3 * time.Second
	// stderrTail is how much of the gateway's last stderr a failed open
	// quotes in its error.
	stderrTail = 1024
)

// session is one gateway process and the HTTP/2 session served on its
// stdin/stdout.
type session struct {
	p          runner.Process
	conn       *pipeConn
	base       *http.Server
	started    time.Time
	served     chan struct{} // closed when ServeConn has returned
	stderrDone chan struct{}
	reapOnce   sync.Once
}

func (s *session) ended() bool {
	select {
	case <-s.served:
		return true
	default:
		return false
	}
}

// kill ends the gateway process (over SSH, its session), which
// unblocks every read and write on its streams.
func (s *session) kill() error { return s.p.Kill() }

// teardown kills the gateway if it still runs and reaps it.
func (s *session) teardown() {
	if s.conn != nil {
		_ = s.conn.Close() // kills, then closes stdin
	} else {
		_ = s.kill()
		_ = s.p.Stdin().Close() // no one writes before a session is served
	}
	if s.served != nil && s.base != nil {
		<-s.served
	}
	s.reapOnce.Do(func() {
		select {
		case <-s.stderrDone:
		case <-time.After(reapWait):
		}
		_, _ = s.p.Wait()
	})
}

// open starts one gateway on port, checks its handshake, and serves
// HTTP/2 on its channel.
func (h *Host) open(ctx context.Context, port int) (*session, error) {
	nonce := newNonce()
	env := map[string]string{
		EnvBridgeMode:                    ModeHTTP2,
		EnvBridgeToken:                   h.o.BridgeToken,
		EnvBridgeHost:                    "127.0.0.1",
		EnvBridgePort:                    strconv.Itoa(port),
		EnvBridgeNonce:                   nonce,
		"PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge",
	}
	if h.o.MaxBodyBytes > 0 {
		env[EnvMaxBodyBytes] = strconv.FormatInt(h.o.MaxBodyBytes, 10)
	}
	for k, v := range h.o.Env {
		env[k] = v
	}
	// The process outlives ctx (the start-up context): it is ended by
	// teardown, after the drain.
	p, err := h.o.Runner.Start(context.WithoutCancel(ctx), runner.Command{Script: h.o.Script, Env: env})
	if err != nil {
		h.m.opened("channel_open_failed")
		return nil, fmt.Errorf("start the http2 gateway: %w", err)
	}
	s := &session{p: p, started: time.Now(), stderrDone: make(chan struct{})}
	tail := runner.NewTail(stderrTail)
	go func() {
		h.logLines(io.TeeReader(p.Stderr(), tail))
		close(s.stderrDone)
	}()

	rest, err := h.handshake(ctx, s, nonce)
	if err != nil {
		s.teardown()
		if errors.Is(err, ErrNoReady) && strings.Contains(tail.String(), "could not bind port") {
			err = errors.Join(ErrPortInUse, err)
		}
		h.m.opened(Reason(err))
		return nil, fmt.Errorf("http2 gateway on port %d: %w%s", port, err, quotedTail(tail))
	}

	s.conn = newPipeConn(io.MultiReader(bytes.NewReader(rest), p.Stdout()), p.Stdin(), s.kill)
	s.base = h.baseServer()
	srv := &http2.Server{}
	if err := http2.ConfigureServer(s.base, srv); err != nil {
		s.teardown()
		return nil, fmt.Errorf("configure the http2 server: %w", err)
	}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		srv.ServeConn(s.conn, &http2.ServeConnOpts{
			Context:    context.WithoutCancel(ctx),
			BaseConfig: s.base,
			Handler:    s.base.Handler,
			// ReadHandshake checked the preface; its remaining bytes
			// are the first of the connection ServeConn reads.
			SawClientPreface: true,
		})
	}()
	h.m.opened("ok")
	h.log.Info("http2 session open", "port", port, "runner", h.o.Runner.Name())
	return s, nil
}

// handshake waits, within ReadyTimeout, for the READY line and preface.
func (h *Host) handshake(ctx context.Context, s *session, nonce string) ([]byte, error) {
	type result struct {
		rest []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rest, err := ReadHandshake(s.p.Stdout(), nonce)
		done <- result{rest, err}
	}()
	t := time.NewTimer(h.o.ReadyTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.rest, r.err
	case <-t.C:
		_ = s.kill() // unblocks the reader, which then ends
		return nil, ErrReadyTimeout
	case <-ctx.Done():
		_ = s.kill()
		return nil, ctx.Err()
	}
}

// baseServer is the net/http configuration every stream of a session is
// served with: the callback API's handler and write timeout, and the
// session limits above.
func (h *Host) baseServer() *http.Server {
	src := h.o.Server
	return &http.Server{
		Handler:      h.handler,
		WriteTimeout: src.WriteTimeout,
		ErrorLog:     src.ErrorLog,
		// x/net advertises MaxHeaderBytes plus 320 bytes (32 for each of
		// ten fields) as SETTINGS_MAX_HEADER_LIST_SIZE: 16 KiB in all.
		MaxHeaderBytes: maxHeaderListBytes - 320,
		// No IdleTimeout and no ReadTimeout: the session is meant to
		// idle for as long as the run lasts (PINGs tell it is alive), and
		// ConfigureServer would turn either into a session idle timeout.
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          maxConcurrentStreams,
			MaxDecoderHeaderTableSize:     headerTableBytes,
			MaxEncoderHeaderTableSize:     headerTableBytes,
			MaxReadFrameSize:              maxFrameBytes,
			MaxReceiveBufferPerConnection: connReceiveWindow,
			MaxReceiveBufferPerStream:     streamReceiveWindow,
			SendPingTimeout:               pingInterval,
			PingTimeout:                   pingStallLimit,
			CountError:                    h.m.protocolError,
		},
	}
}

// logLines passes the gateway's stderr to the log, line by line, until
// EOF. The lines are the sandbox's words: debug level, never parsed.
func (h *Host) logLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		h.log.Debug("gateway output", "line", sc.Text())
	}
	_, _ = io.Copy(io.Discard, r)
}

// newNonce is a fresh per-open nonce: it ties a READY line to this open.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// quotedTail quotes what a tail kept for an error message, or is empty: the
// gateway's stderr is the sandbox's, so it is quoted, never passed raw.
func quotedTail(t *runner.Tail) string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	return ": " + strconv.Quote(s)
}
