package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// defaultBudget is how --body-budget-bytes shows its default (zero in
// Config): budget.DefaultSize of the body cap.
const defaultBudget = "4x max-body-bytes + 1MiB"

// upstreamSettings are the control-plane side: where to forward and with
// which credential.
var upstreamSettings = []setting{
	{flag: "upstream", env: "CLIPBRIDGE_UPSTREAM", def: DefaultUpstream,
		usage: "the Paperclip control plane's base URL; a path prefix is kept",
		set: func(c *Config, v string) error {
			u, err := parseUpstream(v)
			c.Upstream = u
			return err
		}},
	{flag: "run-token-file", env: "CLIPBRIDGE_RUN_TOKEN_FILE",
		usage: "file holding the run's real JWT, re-read when it changes (or set CLIPBRIDGE_RUN_TOKEN)",
		set:   func(c *Config, v string) error { c.RunTokenFile = v; return nil }},
	{flag: "run-id", env: "CLIPBRIDGE_RUN_ID",
		usage: "the run id, sent upstream as X-Paperclip-Run-Id (required)",
		set: func(c *Config, v string) error {
			c.RunID = v
			if v != "" && checkTokenShape(v, 1) != nil {
				return errors.New("must be visible ASCII without spaces")
			}
			return nil
		}},
	{flag: "bridge-token-file", env: "CLIPBRIDGE_BRIDGE_TOKEN_FILE",
		usage: "file holding the bridge token agents present (or set CLIPBRIDGE_BRIDGE_TOKEN; generated if neither)",
		set:   func(c *Config, v string) error { c.bridgeTokenFile = v; return nil }},
	{env: "CLIPBRIDGE_RUN_TOKEN", secret: true,
		usage: "the run's real JWT (secret: environment only)",
		set:   func(*Config, string) error { return nil }},
	{env: "CLIPBRIDGE_BRIDGE_TOKEN", secret: true,
		usage: "the bridge token agents present (secret: environment only)",
		set:   func(*Config, string) error { return nil }},
}

// listenerSettings apply wherever the callback API is served.
var listenerSettings = []setting{
	{flag: "listen", env: "CLIPBRIDGE_LISTEN", def: DefaultListen,
		usage: "local address of the callback API",
		set:   func(c *Config, v string) error { c.Listen = v; return checkListen(v) }},
	{flag: "admin-listen", env: "CLIPBRIDGE_ADMIN_LISTEN", def: DefaultListen,
		usage: "address of /metrics, /healthz and /readyz (never reachable through a tunnel)",
		set:   func(c *Config, v string) error { c.AdminListen = v; return checkListen(v) }},
	{flag: "max-body-bytes", env: "CLIPBRIDGE_MAX_BODY_BYTES", def: "10551296",
		usage: "cap on request and response bodies",
		set: func(c *Config, v string) (err error) {
			c.MaxBodyBytes, err = ParseSize(v)
			return err
		}},
	{flag: "body-budget-bytes", env: "CLIPBRIDGE_BODY_BUDGET_BYTES", def: defaultBudget,
		usage: "process-wide cap on body bytes held in memory (held responses, queue envelopes); beyond it requests get 503",
		set: func(c *Config, v string) (err error) {
			if v == defaultBudget {
				return nil
			}
			c.BodyBudgetBytes, err = ParseSize(v)
			return err
		}},
	{flag: "upstream-timeout", env: "CLIPBRIDGE_UPSTREAM_TIMEOUT", def: "30s",
		usage: "longest wait for upstream's response head, or stall in a body",
		set: func(c *Config, v string) (err error) {
			c.UpstreamTimeout, err = ParseDuration(v)
			return err
		}},
	{flag: "max-inflight", env: "CLIPBRIDGE_MAX_INFLIGHT", def: "64",
		usage: "concurrent requests; more get 503 with Retry-After",
		set: func(c *Config, v string) (err error) {
			c.MaxInFlight, err = ParseCount(v)
			return err
		}},
	{flag: "routes", env: "CLIPBRIDGE_ROUTES", def: "",
		usage: "file of \"METHOD REGEX\" lines replacing the built-in allowlist (# comments)",
		set: func(c *Config, v string) error {
			c.RoutesFile = v
			if v == "" {
				return nil
			}
			if _, err := os.Stat(v); err != nil {
				return errors.New("cannot read the file")
			}
			return nil
		}},
	{flag: "env-file", env: "CLIPBRIDGE_ENV_FILE",
		usage: "also write the agent env here (dotenv, mode 0600, atomic)",
		set:   func(c *Config, v string) error { c.EnvFile = v; return nil }},
	{flag: "drain-timeout", env: "CLIPBRIDGE_DRAIN_TIMEOUT", def: "10s",
		usage: "how long in-flight requests may finish after SIGINT/SIGTERM",
		set: func(c *Config, v string) (err error) {
			c.DrainTimeout, err = ParseDuration(v)
			return err
		}},
	{flag: "log-format", env: "CLIPBRIDGE_LOG_FORMAT", def: "auto",
		usage: "auto (colour text on a terminal, JSON otherwise), json or text",
		set: func(c *Config, v string) error {
			c.LogFormat = v
			return oneOf(v, "auto", "json", "text")
		}},
	{flag: "log-level", env: "CLIPBRIDGE_LOG_LEVEL", def: "info",
		usage: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			c.LogLevel = v
			return oneOf(v, "debug", "info", "warn", "error")
		}},
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
}

// parseUpstream accepts an http(s) base URL with an optional path prefix.
func parseUpstream(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("want an http:// or https:// URL")
	case u.Host == "":
		return nil, errors.New("no host")
	case u.User != nil:
		return nil, errors.New("credentials in the URL are not allowed: the run token is the credential")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, errors.New("a query or fragment cannot be part of the base URL")
	case strings.Contains(u.EscapedPath(), "//"):
		return nil, errors.New("the path prefix has an empty segment")
	}
	return u, nil
}
