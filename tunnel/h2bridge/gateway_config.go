package h2bridge

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// The gateway's environment: Paperclip's names (reference §8), plus the
// grace a gateway keeps answering after it lost its session.
const (
	EnvBridgeMode   = "PAPERCLIP_API_BRIDGE_MODE"
	EnvBridgeToken  = "PAPERCLIP_BRIDGE_TOKEN"
	EnvBridgeHost   = "PAPERCLIP_BRIDGE_HOST"
	EnvBridgePort   = "PAPERCLIP_BRIDGE_PORT"
	EnvBridgeNonce  = "PAPERCLIP_BRIDGE_NONCE"
	EnvMaxBodyBytes = "PAPERCLIP_BRIDGE_MAX_BODY_BYTES"
	// EnvLossExitGraceMS is how long a gateway whose session was lost
	// keeps its port, answering 503 bridge_unavailable, before it exits
	// and frees the port for the gateway the host starts next (Paperclip
	// uses the same name for its duplex gateway).
	EnvLossExitGraceMS = "PAPERCLIP_BRIDGE_LOSS_EXIT_GRACE_MS"
)

// ModeHTTP2 is the bridge mode this gateway serves.
const ModeHTTP2 = "http2_v1"

// Gateway defaults.
const (
	// DefaultMaxBodyBytes is Paperclip's body cap: 10 MiB plus 64 KiB of
	// multipart headroom.
	DefaultMaxBodyBytes = 10551296
	// DefaultLossExitGrace: long enough that an agent retrying a call sees
	// the retryable 503 rather than a refused connection, short against
	// the host's reconnect backoff, which waits out the old gateway.
	DefaultLossExitGrace = 3 * time.Second
	// authority is the :authority of every stream: the channel has no
	// network address, so both ends use this fixed label.
	authority = "bridge.internal"
)

// GatewayConfig is the http2_v1 gateway's settings.
type GatewayConfig struct {
	Token        string
	Host         string
	Port         int
	Nonce        string
	MaxBodyBytes int64
	LossGrace    time.Duration
}

// LoadGatewayConfig reads the gateway env as Paperclip's gateway does:
// the token is required, and the port must be the positive integer the
// host assigned (the gateway never picks another one), with Paperclip's
// message otherwise.
func LoadGatewayConfig(getenv func(string) string) (GatewayConfig, error) {
	if mode := getenv(EnvBridgeMode); mode != ModeHTTP2 {
		return GatewayConfig{}, errors.New("Unsupported PAPERCLIP_API_BRIDGE_MODE: " + mode)
	}
	c := GatewayConfig{
		Token:        getenv(EnvBridgeToken),
		Host:         strings.TrimSpace(getenv(EnvBridgeHost)),
		Nonce:        getenv(EnvBridgeNonce),
		MaxBodyBytes: int64(positive(getenv(EnvMaxBodyBytes), DefaultMaxBodyBytes)),
		LossGrace:    time.Duration(positive(getenv(EnvLossExitGraceMS), float64(DefaultLossExitGrace.Milliseconds()))) * time.Millisecond,
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Token == "" {
		return c, errors.New("PAPERCLIP_BRIDGE_TOKEN is required.")
	}
	raw := strings.TrimSpace(getenv(EnvBridgePort))
	if raw == "" {
		raw = "0" // Number("") is 0 in Paperclip's gateway
	}
	p, err := strconv.ParseFloat(raw, 64)
	if err != nil || p <= 0 || p != math.Trunc(p) || p > 65535 {
		return c, errors.New("http2 gateway requires a positive assigned PAPERCLIP_BRIDGE_PORT; got " + raw)
	}
	c.Port = int(p)
	return c, nil
}

// positive is Paperclip's normalisation of a numeric setting: a finite
// value above zero, truncated; anything else takes def.
func positive(s string, def float64) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f <= 0 || f > math.MaxInt32*1000 {
		return def
	}
	return math.Trunc(f)
}
