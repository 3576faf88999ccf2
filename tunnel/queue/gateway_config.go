package queue

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Gateway environment variables: Paperclip's (reference §2.1) plus one of ours.
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
)

// ModeQueueV1 is the only bridge mode this gateway serves.
const ModeQueueV1 = "queue_v1"

// GatewayConfig is the gateway's settings as read from the environment.
type GatewayConfig struct {
	QueueDir        string
	Token           string
	Host            string
	Port            int
	PollInterval    time.Duration
	ResponseTimeout time.Duration
	MaxQueueDepth   int
	MaxBodyBytes    int64
	ExitOnStdinEOF  bool
}

// LoadGatewayConfig reads the gateway env the way Paperclip's gateway does: numbers that are
// finite and positive are truncated to integers, anything else takes the default; the host is
// trimmed. It fails (with Paperclip's messages) on an unsupported mode or missing token/queue.
func LoadGatewayConfig(getenv func(string) string) (GatewayConfig, error) {
	if mode := getenv(EnvBridgeMode); mode != "" && mode != ModeQueueV1 {
		// http2_v1 needs a duplex channel this gateway does not offer; duplex_v1 is retired.
		return GatewayConfig{}, errors.New("Unsupported PAPERCLIP_API_BRIDGE_MODE: " + mode)
	}
	c := GatewayConfig{
		QueueDir:        getenv(EnvQueueDir),
		Token:           getenv(EnvBridgeToken),
		Host:            strings.TrimSpace(getenv(EnvBridgeHost)),
		Port:            int(envNumber(getenv(EnvBridgePort), 0)),
		PollInterval:    time.Duration(envNumber(getenv(EnvPollIntervalMS), 100)) * time.Millisecond,
		ResponseTimeout: time.Duration(envNumber(getenv(EnvResponseTimeout), 30000)) * time.Millisecond,
		MaxQueueDepth:   int(envNumber(getenv(EnvMaxQueueDepth), 64)),
		MaxBodyBytes:    envNumber(getenv(EnvMaxBodyBytes), DefaultMaxBodyBytes),
		ExitOnStdinEOF:  getenv(EnvExitOnStdinEOF) == "1",
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Token == "" {
		return c, errors.New("PAPERCLIP_BRIDGE_TOKEN is required.")
	}
	if c.QueueDir == "" {
		return c, errors.New("PAPERCLIP_BRIDGE_QUEUE_DIR and PAPERCLIP_BRIDGE_TOKEN are required.")
	}
	if c.Port > 65535 {
		return c, errors.New("PAPERCLIP_BRIDGE_PORT must be at most 65535")
	}
	return c, nil
}

// envNumber is Paperclip's normalisation: a finite value > 0, truncated; otherwise def.
func envNumber(s string, def int64) int64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f >= math.MaxInt64/2 {
		return def
	}
	if t := int64(f); t > 0 {
		return t
	}
	return def
}
