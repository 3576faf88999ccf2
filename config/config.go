// Package config turns command-line flags and CLIPBRIDGE_* environment
// variables into a validated Config. Every default lives here, and every
// problem is reported at once, naming the setting and the bad value.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// Defaults. 10551296 is Paperclip's current body cap: 10 MiB plus 64 KiB of
// multipart headroom for attachment uploads.
const (
	DefaultUpstream        = "http://127.0.0.1:3100"
	DefaultListen          = "127.0.0.1:0"
	DefaultMaxBodyBytes    = 10551296
	DefaultUpstreamTimeout = 30 * time.Second
	DefaultMaxInFlight     = 64
	DefaultDrainTimeout    = 10 * time.Second
)

// Config is everything serve (and demo) needs. Secrets are Secret values.
type Config struct {
	Upstream        *url.URL
	RunToken        Secret // from CLIPBRIDGE_RUN_TOKEN, or the first read of RunTokenFile
	RunTokenFile    string // re-read when it changes
	RunID           string
	BridgeToken     Secret
	BridgeGenerated bool // BridgeToken was generated, not given
	Listen          string
	AdminListen     string
	MaxBodyBytes    int64
	BodyBudgetBytes int64
	UpstreamTimeout time.Duration
	MaxInFlight     int
	RoutesFile      string // empty: the built-in allowlist
	EnvFile         string
	DrainTimeout    time.Duration
	LogFormat       string // auto, json or text
	LogLevel        string // debug, info, warn or error
	// CheckJSON makes `check` print one JSON report instead of lines.
	CheckJSON bool

	// SSH and Queue configure the transports (see Mode).
	SSH   SSH
	Queue Queue

	// Command is what follows "--" on the command line.
	Command []string

	bridgeTokenFile string
}

// ErrUsage marks errors that are the caller's: exit status 2. Test for
// it with errors.Is; wrap with Usage.
var ErrUsage = errors.New("usage error")

// Usage marks err as the caller's (exit status 2) without changing its
// message.
func Usage(err error) error { return usageError{err} }

// Usagef is Usage(fmt.Errorf(format, args...)).
func Usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

type usageError struct{ err error }

func (e usageError) Error() string        { return e.err.Error() }
func (e usageError) Unwrap() error        { return e.err }
func (e usageError) Is(target error) bool { return target == ErrUsage }

// Load parses the arguments of subcommand cmd (args excludes the
// subcommand itself) over the environment read through getenv. It
// returns flag.ErrHelp when help was asked for (see Help); any other
// error wraps ErrUsage and lists every problem found. With an invalid
// setting (not a malformed command line) the config is returned with the
// error, holding whatever did resolve.
func Load(cmd string, args []string, getenv func(string) string) (*Config, error) {
	settings, err := settingsFor(cmd)
	if err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := register(fs, settings)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, Usagef("%v (see clipbridge %s --help)", FlagError(err), cmd)
	}
	c := &Config{Command: fs.Args()}
	errs := resolve(c, settings, fs, values, getenv)
	if c.BodyBudgetBytes != 0 && c.BodyBudgetBytes <= c.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("--body-budget-bytes/CLIPBRIDGE_BODY_BUDGET_BYTES %d must exceed --max-body-bytes %d, or no capped response could ever be held",
			c.BodyBudgetBytes, c.MaxBodyBytes))
	}
	if cmd != "demo" {
		errs = append(errs, c.finishCredentials(getenv)...)
		errs = append(errs, c.finishSSH()...)
		errs = append(errs, c.finishTransport()...)
	}
	if len(errs) > 0 {
		// c is returned too: what did resolve (the log format, say) decides
		// how the error is reported.
		return c, Usagef("invalid settings:\n%w", errors.Join(errs...))
	}
	return c, nil
}

// Help writes the help of subcommand cmd.
func Help(w io.Writer, cmd string) {
	settings, err := settingsFor(cmd)
	if err != nil {
		return
	}
	writeHelp(w, cmd, synopsis[cmd], settings)
}

// checkSettings are check's own.
var checkSettings = []setting{
	{flag: "json", env: "CLIPBRIDGE_CHECK_JSON", boolean: true,
		usage: "print one JSON report ({\"ok\":...,\"steps\":[...]}) instead of a line per step",
		set: func(c *Config, v string) (err error) {
			if c.CheckJSON, err = strconv.ParseBool(v); err != nil {
				return errors.New("want true or false")
			}
			return nil
		}},
}

func concat(lists ...[]setting) []setting {
	var out []setting
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var synopsis = map[string]string{
	"serve": "serve [settings] [-- command [args...]]",
	"check": "check [settings]   (the same settings as serve)",
	"demo":  "demo [settings]",
}

func settingsFor(cmd string) ([]setting, error) {
	switch cmd {
	case "serve":
		return concat(upstreamSettings, listenerSettings, sshSettings, queueSettings), nil
	case "check":
		return concat(upstreamSettings, listenerSettings, sshSettings, queueSettings, checkSettings), nil
	case "demo":
		return listenerSettings, nil
	}
	return nil, Usagef("unknown command %q", cmd)
}

// finishCredentials checks the settings that depend on each other: the
// run token comes from exactly one place, the run id is present, and the
// bridge token, if not given, is generated.
func (c *Config) finishCredentials(getenv func(string) string) []error {
	var errs []error
	envToken := getenv("CLIPBRIDGE_RUN_TOKEN")
	switch {
	case envToken != "" && c.RunTokenFile != "":
		errs = append(errs, errors.New("CLIPBRIDGE_RUN_TOKEN and --run-token-file/CLIPBRIDGE_RUN_TOKEN_FILE are both set: use one"))
	case envToken != "":
		c.RunToken = NewSecret(envToken)
	case c.RunTokenFile != "":
		tok, err := ReadTokenFile(c.RunTokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--run-token-file/CLIPBRIDGE_RUN_TOKEN_FILE %q: %w", c.RunTokenFile, err))
		}
		c.RunToken = NewSecret(tok)
	default:
		errs = append(errs, errors.New("the run token is required: set CLIPBRIDGE_RUN_TOKEN or --run-token-file/CLIPBRIDGE_RUN_TOKEN_FILE"))
	}
	if c.RunID == "" {
		errs = append(errs, errors.New("--run-id/CLIPBRIDGE_RUN_ID is required"))
	}
	envBridge := getenv("CLIPBRIDGE_BRIDGE_TOKEN")
	switch {
	case envBridge != "" && c.bridgeTokenFile != "":
		errs = append(errs, errors.New("CLIPBRIDGE_BRIDGE_TOKEN and --bridge-token-file/CLIPBRIDGE_BRIDGE_TOKEN_FILE are both set: use one"))
	case envBridge != "":
		c.BridgeToken = NewSecret(envBridge)
	case c.bridgeTokenFile != "":
		tok, err := ReadTokenFile(c.bridgeTokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--bridge-token-file/CLIPBRIDGE_BRIDGE_TOKEN_FILE %q: %w", c.bridgeTokenFile, err))
		}
		c.BridgeToken = NewSecret(tok)
	default:
		c.BridgeToken, c.BridgeGenerated = GenerateBridgeToken(), true
	}
	if !c.BridgeToken.IsZero() {
		if err := checkTokenShape(c.BridgeToken.Reveal(), 16); err != nil {
			errs = append(errs, fmt.Errorf("the bridge token (value hidden): %w", err))
		}
	}
	if !c.RunToken.IsZero() {
		if err := checkTokenShape(c.RunToken.Reveal(), 1); err != nil {
			errs = append(errs, fmt.Errorf("the run token (value hidden): %w", err))
		}
		if c.RunToken == c.BridgeToken {
			errs = append(errs, errors.New("the bridge token equals the run token: the agent would hold the real credential"))
		}
	}
	return errs
}

// GenerateBridgeToken returns a fresh per-run bridge token: 24 random
// bytes, base64url without padding (32 characters), as Paperclip makes it.
func GenerateBridgeToken() Secret {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return NewSecret(base64.RawURLEncoding.EncodeToString(b[:]))
}

// ReadTokenFile reads a token file, trimming one trailing newline (as
// written by echo or a Kubernetes Secret editor).
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read it: %w", errors.Unwrap(err))
	}
	tok := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if tok == "" {
		return "", errors.New("the file is empty")
	}
	return tok, nil
}

// checkTokenShape keeps a token usable in a header: visible ASCII only,
// the rule the upstream writer checks again before sending one
// (policy.ValidCredential; one rule, one place).
func checkTokenShape(tok string, minLen int) error {
	if len(tok) < minLen {
		return fmt.Errorf("shorter than %d characters", minLen)
	}
	if !policy.ValidCredential(tok) {
		return errors.New("contains spaces, control or non-ASCII characters")
	}
	return nil
}

// checkListen validates a host:port listen address.
func checkListen(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("want host:port, e.g. 127.0.0.1:0")
	}
	if host == "" {
		return errors.New("name the interface (e.g. 127.0.0.1): an empty host listens on every interface")
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return errors.New("bad port")
	}
	return nil
}
