package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/proxy"
	"github.com/clipbridge/clipbridge/sshconn"
	"github.com/clipbridge/clipbridge/tunnel/sshtunnel"
)

// sshTransport serves the callback API on a remote port-forward of the
// execution host's sshd.
type sshTransport struct {
	t   *sshtunnel.Tunnel
	key string
}

// newSSH checks the settings; the connection is made by Run.
func newSSH(cfg *config.Config, h *proxy.Handler, reg prometheus.Registerer,
	getenv func(string) string, log *slog.Logger) (*sshTransport, error) {
	t, err := sshtunnel.New(sshtunnel.Options{
		SSH:             sshOptions(cfg, getenv, log),
		RemoteListen:    cfg.SSH.RemoteListen,
		Server:          h.NewServer(log.With("component", "http")),
		ShutdownTimeout: cfg.DrainTimeout,
		Logger:          log.With("component", "tunnel"),
		Registerer:      reg,
	})
	if err != nil {
		return nil, config.Usage(err)
	}
	return &sshTransport{t: t, key: cfg.BridgeToken.Reveal()}, nil
}

func (s *sshTransport) Ready() <-chan struct{} { return s.t.Ready() }
func (s *sshTransport) Env() agentEnv          { return agentEnv{URL: s.t.URL(), Key: s.key, Mode: "queue_v1"} }
func (s *sshTransport) Up() bool               { return s.t.Up() }

// Run implements transport. A failure before the first connect succeeded
// (refused, auth, host key, forward) is a configuration problem: exit
// status 2 with the classified message; after it, the tunnel reconnects
// by itself and Run ends only with ctx.
func (s *sshTransport) Run(ctx context.Context) error {
	err := s.t.Run(ctx)
	switch {
	case errors.Is(err, sshtunnel.ErrDrainTimeout):
		return errDrainTimeout
	case err != nil && !isClosed(s.t.Ready()):
		return config.Usage(err)
	}
	return err
}

// errStoppedBeforeReady: a signal arrived while connecting.
var errStoppedBeforeReady = errors.New("stopped before the transport was ready")

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// sshOptions maps the settings onto one SSH connection's options.
func sshOptions(cfg *config.Config, getenv func(string) string, log *slog.Logger) sshconn.Options {
	s := cfg.SSH
	o := sshconn.Options{
		Host:                  s.Host,
		Port:                  s.Port,
		User:                  s.User,
		KeyFile:               s.KeyFile,
		KnownHostsFile:        s.KnownHostsFile,
		KnownHosts:            s.KnownHosts,
		InsecureIgnoreHostKey: s.InsecureIgnoreHost,
		ConnectTimeout:        s.ConnectTimeout,
		KeepaliveInterval:     s.Keepalive,
		KeepaliveMax:          s.KeepaliveMax,
		Getenv:                getenv,
		Logger:                log.With("component", "ssh"),
	}
	if !s.Key.IsZero() {
		o.KeyPEM = []byte(s.Key.Reveal())
	}
	if !s.Passphrase.IsZero() {
		o.Passphrase = []byte(s.Passphrase.Reveal())
	}
	return o
}
