package gateway

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// config is the gateway's settings as read from the environment.
type config struct {
	QueueDir        string
	Token           string
	Host            string
	Port            int
	PollInterval    time.Duration
	ResponseTimeout time.Duration
	MaxQueueDepth   int
	MaxBodyBytes    int64
	ExitOnStdinEOF  bool
	Lease           time.Duration // 0: none
}

// loadConfig reads the gateway env the way Paperclip's gateway does: numbers that are
// finite and positive are truncated to integers, anything else takes the default; the host is
// trimmed. It fails (with Paperclip's messages) on an unsupported mode or missing token/queue.
func loadConfig(getenv func(string) string) (config, error) {
	if mode := getenv(queue.EnvBridgeMode); mode != "" && mode != queue.ModeQueueV1 {
		// http2_v1 needs a duplex channel this gateway does not offer; duplex_v1 is retired.
		return config{}, errors.New("Unsupported PAPERCLIP_API_BRIDGE_MODE: " + mode)
	}
	c := config{
		QueueDir:        getenv(queue.EnvQueueDir),
		Token:           getenv(queue.EnvBridgeToken),
		Host:            strings.TrimSpace(getenv(queue.EnvBridgeHost)),
		Port:            int(envNumber(getenv(queue.EnvBridgePort), 0)),
		PollInterval:    time.Duration(envNumber(getenv(queue.EnvPollIntervalMS), 100)) * time.Millisecond,
		ResponseTimeout: time.Duration(envNumber(getenv(queue.EnvResponseTimeout), 30000)) * time.Millisecond,
		MaxQueueDepth:   int(envNumber(getenv(queue.EnvMaxQueueDepth), 64)),
		MaxBodyBytes:    envNumber(getenv(queue.EnvMaxBodyBytes), queue.DefaultMaxBodyBytes),
		ExitOnStdinEOF:  getenv(queue.EnvExitOnStdinEOF) == "1",
		Lease:           time.Duration(envNumber(getenv(queue.EnvLeaseMS), 0)) * time.Millisecond,
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
