package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// ReadyInfo is ready.json, exactly Paperclip's fields: {pid, host, port, baseUrl, startedAt}.
type ReadyInfo struct {
	PID       int    `json:"pid"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
	BaseURL   string `json:"baseUrl"`
	StartedAt string `json:"startedAt"`
}

// Run is `clipbridge gateway`: a drop-in for Paperclip's paperclip-bridge-server.mjs that
// needs no Node. It reads the PAPERCLIP_BRIDGE_* environment through getenv, listens on
// PAPERCLIP_BRIDGE_HOST:PORT, writes ready.json atomically (and the same JSON as one line on
// stdout), and serves until ctx ends (or stdin closes, with CLIPBRIDGE_GATEWAY_EXIT_ON_STDIN_EOF=1).
// Logs go to stderr. Any returned error (bad env, unsupported mode, bind failure) should exit 1.
func Run(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return configError{err}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "queue_gateway")
	g, err := newGateway(cfg, log)
	if err != nil {
		return err
	}
	defer g.close()

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{
		Handler: g,
		// Agents are local processes; these bound what a stuck or hostile one can hold.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a 10 MiB upload over loopback takes far less
		// A response may take the whole response timeout to arrive, plus the write itself.
		WriteTimeout: cfg.ResponseTimeout + time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ready := ReadyInfo{PID: os.Getpid(), Host: cfg.Host, Port: port,
		BaseURL: "http://" + net.JoinHostPort(cfg.Host, strconv.Itoa(port)), StartedAt: queue.FormatTime(time.Now())}
	readyJSON, _ := json.Marshal(ready) // plain fields: cannot fail
	if err := g.publishReady(readyJSON); err != nil {
		_ = ln.Close()
		return fmt.Errorf("write ready.json: %w", err)
	}
	defer g.removeReadyIfOurs(ready.PID)
	_, _ = fmt.Fprintf(stdout, "%s\n", readyJSON)
	log.Info("gateway listening", "base_url", ready.BaseURL, "queue_dir", cfg.QueueDir)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.ExitOnStdinEOF && stdin != nil {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			log.Info("gateway stdin closed; stopping")
			cancel()
		}()
	}
	if cfg.Lease > 0 {
		go g.watchLease(runCtx, cancel, cfg.Lease)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-runCtx.Done():
	}
	// Waiters get a moment to finish; the rest are cut (their requests are then removed below).
	shutCtx, done := context.WithTimeout(context.Background(), 2*time.Second)
	defer done()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
	}
	<-errc
	return nil
}

// publishReady writes ready.json atomically inside the queue directory. ready.json.tmp has a
// fixed name the sandbox can plant (say, a link to a file of the host running us); publish
// removes such an entry instead of writing through it.
func (g *gateway) publishReady(data []byte) error {
	r, err := g.q.Current()
	if err != nil {
		return err
	}
	return queuedir.Publish(r, "ready.json", data)
}

// removeReadyIfOurs removes ready.json at exit unless a newer gateway has replaced it.
func (g *gateway) removeReadyIfOurs(pid int) {
	r, err := g.q.Current()
	if err != nil {
		return
	}
	f, _, err := g.q.OpenRegular(r, "ready.json")
	if err != nil {
		return
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	_ = f.Close()
	var ready ReadyInfo
	if err == nil && json.Unmarshal(b, &ready) == nil && ready.PID == pid {
		_ = r.Remove("ready.json")
	}
}

// ErrConfig marks a gateway that cannot start because of its
// configuration (an unsupported mode, a missing token or queue dir):
// the caller's mistake, exit status 2. Test for it with errors.Is; the
// message stays Paperclip's.
var ErrConfig = errors.New("gateway configuration error")

type configError struct{ err error }

func (e configError) Error() string        { return e.err.Error() }
func (e configError) Unwrap() error        { return e.err }
func (e configError) Is(target error) bool { return target == ErrConfig }
