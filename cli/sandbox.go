package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/clipbridge/clipbridge/tunnel/h2bridge"
	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// runGateway is the sandbox side of queue_v1 or, with
// PAPERCLIP_API_BRIDGE_MODE=http2_v1, of the HTTP/2 bridge: a drop-in for
// Paperclip's paperclip-bridge-server.mjs, configured by the same
// PAPERCLIP_BRIDGE_* variables. A bind failure or an unsupported mode
// exits 1.
func runGateway(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, gatewayHelp)
			return exitOK
		}
		fmt.Fprintf(stderr, "clipbridge gateway: takes no arguments (it is configured by PAPERCLIP_BRIDGE_* variables)\n")
		return exitUsage
	}
	run := queue.RunGateway
	if getenv(h2bridge.EnvBridgeMode) == h2bridge.ModeHTTP2 {
		run = h2bridge.RunGateway
	}
	if err := run(ctx, getenv, os.Stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "[paperclip-bridge] server error: %v\n", err)
		return exitFailure
	}
	return exitOK
}

const gatewayHelp = `Usage: clipbridge gateway

Runs in the sandbox: serves PAPERCLIP_API_URL for the agent and relays each
call through the queue directory to the host worker (clipbridge serve
--queue-dir, or Paperclip's own worker), or with http2_v1 as one HTTP/2
stream over its own stdin/stdout (clipbridge serve --bridge-mode http2_v1
starts it). Configured like Paperclip's gateway:

  PAPERCLIP_BRIDGE_QUEUE_DIR            queue directory (required)
  PAPERCLIP_BRIDGE_TOKEN                bridge token agents present (required)
  PAPERCLIP_BRIDGE_HOST / _PORT         bind address (127.0.0.1 / 0)
  PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS  wait for a response (30000)
  PAPERCLIP_BRIDGE_POLL_INTERVAL_MS     response poll fallback (100)
  PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH      queued requests (64)
  PAPERCLIP_BRIDGE_MAX_BODY_BYTES       body cap (10551296)
  PAPERCLIP_API_BRIDGE_MODE             queue_v1 (default) or http2_v1

http2_v1 reads PAPERCLIP_BRIDGE_TOKEN, _HOST, _PORT (required, the host's
choice), _NONCE (echoed in the READY line), _MAX_BODY_BYTES and
_LOSS_EXIT_GRACE_MS (how long a gateway that lost its session keeps
answering 503 bridge_unavailable before it exits; 3000), and no queue dir.
`

// runQueueAgent is the long-lived helper the host worker starts on the
// execution host (through the runner) when our binary is there: it watches
// the queue directory with inotify and performs the worker's file
// operations, so an idle run costs no execs.
func runQueueAgent(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	if err := queue.RunAgent(ctx, getenv, os.Stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "clipbridge queue-agent: %v\n", err)
		return exitFailure
	}
	return exitOK
}
