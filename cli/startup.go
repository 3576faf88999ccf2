package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/sshconn"
)

// Start-up failure codes: the "code" of the JSON error line serve and
// demo print on stdout when they fail before their ready line, so a
// launcher can tell "the SSH host key is unknown" from "the port is
// taken" without parsing prose. They are part of the contract (README,
// "Start-up failures"); add new ones, never rename one.
const (
	codeConfig           = "config"          // a setting is missing or invalid
	codeListen           = "listen"          // --listen or --admin-listen could not bind
	codeSSHConfig        = "ssh_config"      // the key or known_hosts could not be used
	codeSSHUnreachable   = "ssh_unreachable" // no TCP connection to the SSH host
	codeSSHHandshake     = "ssh_handshake"   // SSH handshake failed (not auth, not host key)
	codeSSHAuth          = "ssh_auth"        // every authentication method was rejected
	codeSSHHostKeyUnkown = "ssh_host_key_unknown"
	codeSSHHostKeyChange = "ssh_host_key_changed"
	codeSSHForward       = "ssh_forward_refused" // the remote port forward was refused
	codeQueue            = "queue"               // the queue directory or its runner failed
	codeGateway          = "gateway"             // --start-gateway could not start our gateway
	codeEnvFile          = "env_file"            // --env-file could not be written
	codeInternal         = "internal"            // anything else; the message says what
)

// startupError is a failure before the ready line, with its code.
type startupError struct {
	code string
	err  error
}

func (e *startupError) Error() string { return e.err.Error() }
func (e *startupError) Unwrap() error { return e.err }

// failedAs marks err, if not nil, as a start-up failure with code.
func failedAs(code string, err error) error {
	if err == nil {
		return nil
	}
	return &startupError{code: code, err: err}
}

// startupCode names a start-up failure: its own code if it has one, the
// SSH error's kind, a settings error, or internal.
func startupCode(err error) string {
	var se *startupError
	var ssh *sshconn.Error
	switch {
	case errors.As(err, &ssh):
		// Checked first: an SSH error may arrive wrapped as a usage error.
		switch ssh.Kind {
		case sshconn.KindConfig:
			return codeSSHConfig
		case sshconn.KindUnreachable:
			return codeSSHUnreachable
		case sshconn.KindAuth:
			return codeSSHAuth
		case sshconn.KindHostKeyUnknown:
			return codeSSHHostKeyUnkown
		case sshconn.KindHostKeyChanged:
			return codeSSHHostKeyChange
		case sshconn.KindForwardRefused:
			return codeSSHForward
		default:
			return codeSSHHandshake
		}
	case errors.As(err, &se):
		return se.code
	case errors.Is(err, config.ErrUsage):
		return codeConfig
	}
	return codeInternal
}

// errorLine is the one JSON line on stdout for a start-up failure, the
// counterpart of the ready line.
type errorLine struct {
	Event   string `json:"event"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// reportStartup reports a failure before the ready line: the JSON error
// line on stdout, and the fatal line on stderr (see reportFatal). It
// returns the exit status: 2 for the caller's mistakes, 1 otherwise.
func reportStartup(stdout, stderr io.Writer, logFormat string, err error) int {
	code := startupCode(err)
	b, _ := json.Marshal(errorLine{Event: "error", Code: code, Message: err.Error()})
	_, _ = stdout.Write(append(b, '\n'))
	return reportFatal(stderr, logFormat, code, err)
}

// reportFatal writes the error that ends the command on stderr: one JSON
// record under --log-format json, so a log pipeline reading JSON lines
// does not choke on the last one, and prose otherwise. It returns the
// exit status.
func reportFatal(stderr io.Writer, logFormat, code string, err error) int {
	if logFormat == "json" {
		attrs := []any{"error", err.Error()}
		if code != "" {
			attrs = append(attrs, "code", code)
		}
		slog.New(slog.NewJSONHandler(stderr, nil)).Error("clipbridge failed", attrs...)
	} else {
		fmt.Fprintf(stderr, "clipbridge: %v\n", err)
	}
	if errors.Is(err, config.ErrUsage) {
		return exitUsage
	}
	return exitFailure
}
