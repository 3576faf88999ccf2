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
	t    *sshtunnel.Tunnel
	e    agentEnv
	done chan error
}

// startSSH connects, asks for the forward and returns once the agent's
// URL works. A failure before that (refused, auth, host key, forward) is
// a configuration problem: exit status 2 with the classified message.
func startSSH(ctx context.Context, cfg *config.Config, h *proxy.Handler, reg prometheus.Registerer,
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
	st := &sshTransport{t: t, done: make(chan error, 1)}
	go func() { st.done <- t.Run(ctx) }()
	select {
	case <-t.Ready():
	case err := <-st.done:
		if err == nil || ctx.Err() != nil {
			return nil, errStoppedBeforeReady
		}
		return nil, config.Usage(err)
	}
	st.e = agentEnv{URL: t.URL(), Key: cfg.BridgeToken.Reveal(), Mode: "queue_v1"}
	return st, nil
}

// errStoppedBeforeReady: a signal arrived while connecting.
var errStoppedBeforeReady = errors.New("stopped before the transport was ready")

func (s *sshTransport) env() agentEnv { return s.e }
func (s *sshTransport) up() bool      { return s.t.Up() }
func (s *sshTransport) wait() error {
	err := <-s.done
	if errors.Is(err, sshtunnel.ErrDrainTimeout) {
		return errDrainTimeout
	}
	return err
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
