package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Queue is the queue_v1 sandbox channel (host side).
type Queue struct {
	Dir        string // on the execution host
	Runner     string // local, ssh, exec or relay
	RunnerExec string // the exec prefix, e.g. "docker exec -i C"
	// RunnerExecOneShot: the exec prefix cannot stream stdin, so the worker uses its one-shot
	// mode (see runner.ExecOptions.OneShot).
	RunnerExecOneShot bool
	// RunnerExecEnv names more variables the exec prefix process may inherit (see
	// runner.ExecOptions.PassEnv); "NAME" or "PREFIX*".
	RunnerExecEnv []string
	StartGateway  bool
	GatewayBinary string
	// GatewayUploadTimeout bounds the copy of the gateway binary to the execution host.
	GatewayUploadTimeout time.Duration
	// BridgeMode is how the sandbox reaches the callback API: queue_v1
	// (the file channel) or http2_v1 (one HTTP/2 session over the
	// runner's duplex exec, falling back to queue_v1 when it cannot open).
	BridgeMode string
	// RelayFD is the inherited unix socket to the parent process for --runner relay.
	RelayFD int
	// OneShotPoll is how long each exec of a one-shot runner (relay, --runner-exec-one-shot)
	// waits for the next request: an idle run costs one exec per period.
	OneShotPoll time.Duration
}

// The bridge modes.
const (
	BridgeQueueV1 = "queue_v1"
	BridgeHTTP2V1 = "http2_v1"
)

// queueSettings configure the queue_v1 channel.
var queueSettings = []setting{
	{flag: "queue-dir", env: "CLIPBRIDGE_QUEUE_DIR",
		usage: "serve Paperclip's queue_v1 channel in this directory on the execution host (no local callback listener)",
		set:   func(c *Config, v string) error { c.Queue.Dir = v; return nil }},
	{flag: "runner", env: "CLIPBRIDGE_RUNNER", def: "auto",
		usage: "how the queue dir is reached: local, ssh (over --ssh-host), exec (--runner-exec) or relay (the parent process runs each command; the npm launcher does this with a sandbox's runner object); auto picks ssh when --ssh-host is set, else local",
		set: func(c *Config, v string) error {
			c.Queue.Runner = v
			return oneOf(v, "auto", "local", "ssh", "exec", "relay")
		}},
	{flag: "relay-fd", env: "CLIPBRIDGE_RELAY_FD", def: "3",
		usage: "for --runner relay: the inherited unix socket descriptor on which the parent process takes requests",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 3 {
				return errors.New("want a descriptor number of 3 or more (0-2 are stdin, stdout and stderr)")
			}
			c.Queue.RelayFD = n
			return nil
		}},
	{flag: "runner-exec", env: "CLIPBRIDGE_RUNNER_EXEC",
		usage: `command prefix reaching the execution host, e.g. "docker exec -i CONTAINER" or "kubectl exec -i POD --"`,
		set:   func(c *Config, v string) error { c.Queue.RunnerExec = v; return nil }},
	{flag: "runner-exec-one-shot", env: "CLIPBRIDGE_RUNNER_EXEC_ONE_SHOT", boolean: true,
		usage: "the --runner-exec prefix cannot stream stdin (it reads all of stdin first, or returns output only at the end): serve the queue with at most one exec per call instead of a long-lived helper",
		set: func(c *Config, v string) (err error) {
			c.Queue.RunnerExecOneShot, err = strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			return nil
		}},
	{flag: "one-shot-poll", env: "CLIPBRIDGE_ONE_SHOT_POLL", def: "25s",
		usage: "with a one-shot runner (relay, --runner-exec-one-shot): how long each exec waits for the next request; an idle run costs one exec per period (keep it under the gateway's 30 s response timeout)",
		set: func(c *Config, v string) (err error) {
			c.Queue.OneShotPoll, err = ParseDuration(v)
			return err
		}},
	{flag: "runner-exec-env", env: "CLIPBRIDGE_RUNNER_EXEC_ENV",
		usage: `comma-separated variables the --runner-exec client may also inherit (NAME or PREFIX*), e.g. "AWS_PROFILE,AWS_REGION" for a kubectl credential plugin`,
		set: func(c *Config, v string) (err error) {
			c.Queue.RunnerExecEnv, err = parsePassEnv(v)
			return err
		}},
	{flag: "gateway-upload-timeout", env: "CLIPBRIDGE_GATEWAY_UPLOAD_TIMEOUT", def: "2m",
		usage: "longest the copy of the gateway binary (about 17 MB) to the execution host may take, for --start-gateway",
		set: func(c *Config, v string) (err error) {
			c.Queue.GatewayUploadTimeout, err = ParseDuration(v)
			return err
		}},
	{flag: "start-gateway", env: "CLIPBRIDGE_START_GATEWAY", boolean: true,
		usage: "also copy clipbridge to the execution host and run its gateway there (the agent env then has a URL and key)",
		set: func(c *Config, v string) (err error) {
			c.Queue.StartGateway, err = strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			return nil
		}},
	{flag: "bridge-mode", env: "CLIPBRIDGE_BRIDGE_MODE", def: BridgeQueueV1,
		usage: "queue_v1 (the file channel) or http2_v1 (one HTTP/2 session over the runner's duplex exec, our gateway started there; falls back to queue_v1 when it cannot open)",
		set: func(c *Config, v string) error {
			c.Queue.BridgeMode = v
			return oneOf(v, BridgeQueueV1, BridgeHTTP2V1)
		}},
	{flag: "gateway-binary", env: "CLIPBRIDGE_GATEWAY_BINARY",
		usage: "clipbridge binary to copy for --start-gateway (default: this one; give another for a different architecture)",
		set: func(c *Config, v string) error {
			c.Queue.GatewayBinary = v
			if v != "" {
				if _, err := os.Stat(v); err != nil {
					return errors.New("cannot read the file")
				}
			}
			return nil
		}},
}

// Mode names how the callback API reaches the execution host.
type Mode string

// The transports.
const (
	ModeLocal Mode = "local" // a local listener
	ModeSSH   Mode = "ssh"   // an SSH remote forward
	ModeQueue Mode = "queue" // the queue_v1 file channel
)

// Mode reports the transport the settings select.
func (c *Config) Mode() Mode {
	switch {
	case c.Queue.Dir != "":
		return ModeQueue
	case c.SSH.Host != "":
		return ModeSSH
	}
	return ModeLocal
}

// finishTransport checks the settings that depend on the mode.
func (c *Config) finishTransport() []error {
	var errs []error
	if c.Queue.Runner == "auto" {
		c.Queue.Runner = "local"
		if c.SSH.Host != "" {
			c.Queue.Runner = "ssh"
		}
	}
	mode := c.Mode()
	if mode == ModeQueue {
		switch {
		case c.Queue.Runner == "ssh" && c.SSH.Host == "":
			errs = append(errs, errors.New("--runner ssh needs --ssh-host/CLIPBRIDGE_SSH_HOST"))
		case c.Queue.Runner == "exec" && c.Queue.RunnerExec == "":
			errs = append(errs, errors.New("--runner exec needs --runner-exec/CLIPBRIDGE_RUNNER_EXEC, e.g. \"docker exec -i CONTAINER\""))
		}
	} else {
		if c.Queue.BridgeMode == BridgeHTTP2V1 {
			errs = append(errs, errors.New("--bridge-mode http2_v1 needs --queue-dir/CLIPBRIDGE_QUEUE_DIR: the queue_v1 fallback uses it, and the gateway binary goes beside it"))
		}
		if c.Queue.StartGateway {
			errs = append(errs, errors.New("--start-gateway needs --queue-dir/CLIPBRIDGE_QUEUE_DIR"))
		}
		if c.Queue.RunnerExec != "" {
			errs = append(errs, errors.New("--runner-exec needs --queue-dir/CLIPBRIDGE_QUEUE_DIR"))
		}
	}
	if c.Queue.Runner == "relay" && mode != ModeQueue {
		errs = append(errs, errors.New("--runner relay needs --queue-dir/CLIPBRIDGE_QUEUE_DIR"))
	}
	if c.Queue.RunnerExecOneShot && (mode != ModeQueue || c.Queue.Runner != "exec") {
		errs = append(errs, errors.New("--runner-exec-one-shot needs --runner exec"))
	}
	if len(c.Queue.RunnerExecEnv) > 0 && (mode != ModeQueue || c.Queue.Runner != "exec") {
		errs = append(errs, errors.New("--runner-exec-env needs --runner exec (the other runners' children inherit only the fixed minimum)"))
	}
	if len(c.Command) > 0 && mode != ModeSSH {
		errs = append(errs, fmt.Errorf("a command after -- runs on the execution host over the SSH tunnel: it needs --ssh-host (and no --queue-dir); got %q", c.Command[0]))
	}
	return errs
}
