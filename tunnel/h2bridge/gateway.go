package h2bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

// Gateway timeouts. Agents are local processes in the sandbox; these
// bound what a stuck or hostile one can hold.
const (
	gatewayReadHeaderTimeout = 10 * time.Second
	// gatewayReadTimeout is Paperclip's request body lifetime ceiling
	// (480 s): a body streams to the host as it arrives, and a slow link
	// may need minutes for 10 MiB, but never forever.
	gatewayReadTimeout = 480 * time.Second
	// gatewayWriteTimeout leaves the answer two minutes past the body.
	gatewayWriteTimeout = gatewayReadTimeout + 2*time.Minute
	gatewayIdleTimeout  = 2 * time.Minute
	// sessionReadIdle: the host PINGs every 5 s, so 15 s without a frame
	// means a stalled host; the gateway then PINGs it, and gives up on the
	// session when the answer has not come within sessionPingTimeout.
	sessionReadIdle    = 15 * time.Second
	sessionPingTimeout = 20 * time.Second
	// maxResponseHeaderBytes bounds the host's response head as decoded
	// here (the host sends only allowlisted headers).
	maxResponseHeaderBytes = 64 << 10
)

// RunGateway is `clipbridge gateway` with PAPERCLIP_API_BRIDGE_MODE=
// http2_v1, the sandbox end: it binds exactly the host-assigned port (or
// fails), writes the one READY line on stdout, then opens one HTTP/2
// client session on stdin/stdout, whose first bytes are the preface.
// Every local request becomes one stream. It serves until ctx ends, or
// until its session is lost; it then answers 503 bridge_unavailable for
// the loss grace and returns, freeing the port for the next gateway.
// Logs go to stderr; stdout carries nothing but READY and HTTP/2.
func RunGateway(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := LoadGatewayConfig(getenv)
	if err != nil {
		return configError{err}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "h2_gateway")
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("http2 gateway could not bind port %d: %w", cfg.Port, err)
	}
	defer ln.Close()

	// A write to a closed stdout would kill the process with SIGPIPE;
	// after a lost session the gateway must live on for its grace, so
	// the write fails with EPIPE instead and marks the session lost.
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	defer signal.Stop(sigpipe)

	conn := newDirectPipeConn(stdin, stdout, func() error {
		closeIfCloser(stdin) // Close then closes stdout, the host's EOF
		return nil
	})
	defer conn.Close()
	// READY, then the preface on the very next write: nothing else ever
	// writes to stdout, so no byte can come between them.
	if _, err := stdout.Write(ReadyLine(cfg.Nonce)); err != nil {
		return fmt.Errorf("write the READY line: %w", err)
	}
	cc, err := newClientTransport().NewClientConn(conn)
	if err != nil {
		return fmt.Errorf("open the HTTP/2 session: %w", err)
	}
	defer cc.Close()

	g := &gateway{cfg: cfg, cc: cc, conn: conn, log: log}
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: gatewayReadHeaderTimeout,
		ReadTimeout:       gatewayReadTimeout,
		WriteTimeout:      gatewayWriteTimeout,
		IdleTimeout:       gatewayIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("gateway ready", "port", cfg.Port)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	case <-conn.Lost():
		log.Warn("http2 session lost; answering 503 until the grace ends", "grace", cfg.LossGrace.String())
		t := time.NewTimer(cfg.LossGrace)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
	}
	<-errc
	return nil
}

// newClientTransport is the gateway's HTTP/2 client configuration.
func newClientTransport() *http2.Transport {
	return &http2.Transport{
		// Bytes pass as sent: no Accept-Encoding added, nothing decoded.
		DisableCompression: true,
		ReadIdleTimeout:    sessionReadIdle,
		PingTimeout:        sessionPingTimeout,
		MaxHeaderListSize:  maxResponseHeaderBytes,
	}
}

func closeIfCloser(v any) {
	if c, ok := v.(io.Closer); ok {
		_ = c.Close()
	}
}

// ErrConfig marks a gateway that cannot start because of its
// configuration (a missing token, no assigned port): the caller's
// mistake, exit status 2. Test for it with errors.Is; the message stays
// Paperclip's.
var ErrConfig = errors.New("http2 gateway configuration error")

type configError struct{ err error }

func (e configError) Error() string        { return e.err.Error() }
func (e configError) Unwrap() error        { return e.err }
func (e configError) Is(target error) bool { return target == ErrConfig }
