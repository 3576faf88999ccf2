package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/standin"
)

// runDemo runs the real sidecar in front of an in-process stand-in for
// the Paperclip API, with generated credentials, until Ctrl-C.
func runDemo(ctx context.Context, cfg *config.Config, getenv func(string) string, stdout, stderr io.Writer) int {
	log, closeLog := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	defer closeLog()
	runToken := config.GenerateBridgeToken() // same shape as a secret; never shown
	cfg.RunID = "run-demo"
	cfg.RunToken = runToken
	cfg.BridgeToken = config.GenerateBridgeToken()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return reportError(stderr, fmt.Errorf("demo upstream: %w", err))
	}
	up := &http.Server{Handler: standin.New(runToken.Reveal(), cfg.RunID), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = up.Serve(ln) }()
	defer up.Close()
	cfg.Upstream = &url.URL{Scheme: "http", Host: ln.Addr().String()}

	err = serve(ctx, cfg, getenv, log, stdout, stderr, func(env agentEnv, adminURL string) {
		fmt.Fprintf(stderr, `
clipbridge demo is running: a stand-in Paperclip API at %s, the sidecar in front of it.
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

`, cfg.Upstream, env.URL, env.Key, adminURL, adminURL)
	})
	if err != nil {
		return reportError(stderr, err)
	}
	return exitOK
}
