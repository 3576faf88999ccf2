package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/internal/sshserver"
	"github.com/clipbridge/clipbridge/logging"
	"github.com/clipbridge/clipbridge/standin"
)

// runDemo runs the real sidecar in front of an in-process stand-in for
// the Paperclip API, with generated credentials, until Ctrl-C.
func runDemo(ctx context.Context, cfg *config.Config, b Build, stdout, stderr io.Writer) int {
	log := logging.New(cfg.LogFormat, cfg.LogLevel, stderr)
	runToken := config.GenerateBridgeToken() // same shape as a secret; never shown
	cfg.RunID = "run-demo"
	cfg.RunToken = runToken
	cfg.BridgeToken = config.GenerateBridgeToken()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return reportStartup(stdout, stderr, cfg.LogFormat, failedAs(codeListen, fmt.Errorf("demo upstream: %w", err)))
	}
	up := &http.Server{Handler: standin.New(runToken.Reveal(), cfg.RunID), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = up.Serve(ln) }()
	defer up.Close()
	cfg.Upstream = &url.URL{Scheme: "http", Host: ln.Addr().String()}

	// The agent's URL goes through the real SSH tunnel code, into an
	// in-process SSH server on loopback that accepts only a key generated
	// here and presents a pinned host key.
	sshSrv, err := startDemoSSH(cfg)
	if err != nil {
		return reportStartup(stdout, stderr, cfg.LogFormat, failedAs(codeInternal, fmt.Errorf("demo ssh server: %w", err)))
	}
	defer sshSrv.Close()
	noEnv := func(string) string { return "" } // no ssh-agent, no ~/.ssh keys: only the demo key

	err = serve(ctx, cfg, b, noEnv, log, stdout, stderr, func(env agentEnv, adminURL string) {
		fmt.Fprintf(stderr, `
clipbridge demo is running: a stand-in Paperclip API at %s, the sidecar in front of it,
reached through an SSH remote forward of an in-process SSH server at %s.
The agent's view (what a launcher would export on the execution host):

  export PAPERCLIP_API_URL=%s
  export PAPERCLIP_API_KEY=%s

Try it:

  curl -s -H "Authorization: Bearer $PAPERCLIP_API_KEY" "$PAPERCLIP_API_URL/api/agents/me"
  curl -s -H "Authorization: Bearer $PAPERCLIP_API_KEY" "$PAPERCLIP_API_URL/api/issues/issue-1"
  curl -s -X POST -H "Authorization: Bearer $PAPERCLIP_API_KEY" -H 'Content-Type: application/json' \
       -d '{"body":"hello from the sandbox"}' "$PAPERCLIP_API_URL/api/issues/issue-1/comments"
  curl -s -H "Authorization: Bearer $PAPERCLIP_API_KEY" "$PAPERCLIP_API_URL/api/companies/c1/secrets"   # 403

Metrics: %s/metrics   Health: %s/readyz
Press Ctrl-C to stop.

`, cfg.Upstream, sshSrv.Addr(), env.URL, env.Key, adminURL, adminURL)
	})
	return exitCode(err, cfg, stdout, stderr)
}

// startDemoSSH starts the demo's SSH server and points cfg at it.
func startDemoSSH(cfg *config.Config) (*sshserver.Server, error) {
	hostKey, _, err := sshserver.GenerateKey()
	if err != nil {
		return nil, err
	}
	client, clientPEM, err := sshserver.GenerateKey()
	if err != nil {
		return nil, err
	}
	srv, err := sshserver.New(sshserver.Options{HostKey: hostKey, AuthorizedKey: client.PublicKey(), User: "agent"})
	if err != nil {
		return nil, err
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	tcp := addr.(*net.TCPAddr)
	cfg.SSH = config.SSH{
		Host: "127.0.0.1", Port: tcp.Port, User: "agent",
		Key:            config.NewSecret(string(clientPEM)),
		KnownHosts:     srv.KnownHostsLine(addr.String()),
		ConnectTimeout: 10 * time.Second, Keepalive: 5 * time.Second, KeepaliveMax: 3,
		RemoteListen: "127.0.0.1:0",
	}
	return srv, nil
}
