package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/clipbridge/clipbridge/tunnel/h2bridge"
	"github.com/clipbridge/clipbridge/tunnel/queue/agent"
	"github.com/clipbridge/clipbridge/tunnel/queue/gateway"
)

// runGateway is the sandbox side of queue_v1 or, with
// PAPERCLIP_API_BRIDGE_MODE=http2_v1, of the HTTP/2 bridge: a drop-in for
// Paperclip's paperclip-bridge-server.mjs, configured by the same
// PAPERCLIP_BRIDGE_* variables. A configuration error (an unsupported
// mode, a missing token) exits 2; a failure while serving (a bind
// failure) exits 1.
func runGateway(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if code, ok := noArguments("gateway", args, gatewayHelp, stdout, stderr); !ok {
		return code
	}
	run := gateway.Run
	if getenv(h2bridge.EnvBridgeMode) == h2bridge.ModeHTTP2 {
		run = h2bridge.RunGateway
	}
	if err := run(ctx, getenv, os.Stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "[paperclip-bridge] server error: %v\n", err)
		// A configuration error is the caller's (exit 2); a failure while
		// serving (a bind failure) is 1.
		if errors.Is(err, gateway.ErrConfig) || errors.Is(err, h2bridge.ErrConfig) {
			return exitUsage
		}
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
func runQueueAgent(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	run := agent.Run
	if len(args) > 0 && args[0] == "--once" {
		run, args = agent.RunOnce, args[1:]
	}
	if code, ok := noArguments("queue-agent", args, queueAgentHelp, stdout, stderr); !ok {
		return code
	}
	if err := run(ctx, getenv, os.Stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "clipbridge queue-agent: %v\n", err)
		return exitFailure
	}
	return exitOK
}

const queueAgentHelp = `Usage: clipbridge queue-agent [--once]

Runs on the execution host, started by the host worker through its runner
(serve --queue-dir with an ssh, exec or relay runner, once --start-gateway
has copied this binary there). It speaks the worker's co-process protocol on
stdin and stdout and watches PAPERCLIP_BRIDGE_QUEUE_DIR with inotify, so an
idle run costs no execs. With --once (one-shot runners, which cannot stream)
it answers the batch on stdin, waits for the next request as CB_LOOK says,
returns it and exits. Not meant to be started by hand.
`
