package queue

import "time"

// The queue_v1 environment (reference §2.1): Paperclip's names, plus one of ours. The gateway
// reads them, the launcher sets them, and the worker hands EnvQueueDir to the queue-agent.
const (
	EnvBridgeMode      = "PAPERCLIP_API_BRIDGE_MODE"
	EnvQueueDir        = "PAPERCLIP_BRIDGE_QUEUE_DIR"
	EnvBridgeToken     = "PAPERCLIP_BRIDGE_TOKEN"
	EnvBridgeHost      = "PAPERCLIP_BRIDGE_HOST"
	EnvBridgePort      = "PAPERCLIP_BRIDGE_PORT"
	EnvPollIntervalMS  = "PAPERCLIP_BRIDGE_POLL_INTERVAL_MS"
	EnvResponseTimeout = "PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS"
	EnvMaxQueueDepth   = "PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH"
	EnvMaxBodyBytes    = "PAPERCLIP_BRIDGE_MAX_BODY_BYTES"
	// EnvExitOnStdinEOF=1 makes the gateway exit when its stdin closes: the launcher holds it
	// open, so the gateway lives exactly as long as the host side that started it (a host lease
	// without polling).
	EnvExitOnStdinEOF = "CLIPBRIDGE_GATEWAY_EXIT_ON_STDIN_EOF"
	// EnvLeaseMS makes a detached gateway (started through a one-shot runner, with nothing to
	// hold its stdin) exit once LeaseFile in the queue directory has not been renewed for
	// that many milliseconds: the worker's one-shot execs renew it, so a gateway whose host
	// side died does not serve on alone.
	EnvLeaseMS = "CLIPBRIDGE_GATEWAY_LEASE_MS"
)

// LeaseFile is the host worker's mark of life in the queue directory, renewed by every L of the
// co-process protocol's one-shot mode.
const LeaseFile = "worker.lease"

// ModeQueueV1 is the PAPERCLIP_API_BRIDGE_MODE value of this channel.
const ModeQueueV1 = "queue_v1"

// DefaultMaxBodyBytes is Paperclip's E2 body cap: 10 MiB plus 64 KiB of multipart headroom. Both
// ends default to it, so a worker and a gateway started without settings agree.
const DefaultMaxBodyBytes = 10551296

// StaleSlack is added to the response timeout before a request counts as abandoned: its gateway
// has given up on it. Paperclip's gateway sweeps with the same slack, and the worker removes such
// a request unanswered rather than apply a mutation the agent was told failed.
const StaleSlack = 2 * time.Second
