package sshconn

import (
	"errors"
	"strings"
)

// ErrorKind classifies why an SSH connection could not be made or was lost.
// Callers map every kind to exit status 2 at start-up and to a log line plus a
// retry once the sidecar is running.
type ErrorKind int

const (
	// KindConfig means the options themselves are unusable: a key file that
	// cannot be read or decrypted, a missing known_hosts file, no credentials.
	KindConfig ErrorKind = iota + 1
	// KindUnreachable means the TCP connection failed: refused, timed out,
	// no route, or the host name did not resolve.
	KindUnreachable
	// KindHandshake means TCP worked but the SSH handshake failed for a
	// reason other than authentication or the host key (protocol mismatch,
	// timeout, the server closing the connection).
	KindHandshake
	// KindAuth means the server rejected every authentication method tried.
	KindAuth
	// KindHostKeyUnknown means the server's host key is not in known_hosts.
	KindHostKeyUnknown
	// KindHostKeyChanged means known_hosts holds a different (or revoked) key
	// for this host: possibly a man-in-the-middle, always refused.
	KindHostKeyChanged
	// KindForwardRefused means the server refused a remote port forward
	// (forwarding disabled or the port in use); produced by the SSH tunnel.
	KindForwardRefused
	// KindLinkDead means an established connection stopped answering
	// keepalives and was closed.
	KindLinkDead
)

// String returns a short lower-case name for the kind, used in messages and
// logs.
func (k ErrorKind) String() string {
	switch k {
	case KindConfig:
		return "invalid ssh settings"
	case KindUnreachable:
		return "host unreachable"
	case KindHandshake:
		return "handshake failed"
	case KindAuth:
		return "authentication rejected"
	case KindHostKeyUnknown:
		return "host key unknown"
	case KindHostKeyChanged:
		return "host key changed"
	case KindForwardRefused:
		return "remote port forward refused"
	case KindLinkDead:
		return "link dead"
	default:
		return "ssh error"
	}
}

// Error is a classified SSH failure. Detail is written for the operator and
// names the fix where one is known; neither Detail nor Err ever holds key
// material, tokens or passphrases.
type Error struct {
	// Kind says what went wrong.
	Kind ErrorKind
	// Addr is the host:port that was dialled.
	Addr string
	// Detail explains the failure and, where possible, how to fix it.
	Detail string
	// Err is the underlying cause, if any.
	Err error
}

// Error formats the error as "ssh ADDR: KIND: DETAIL: CAUSE".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ssh")
	if e.Addr != "" {
		b.WriteString(" ")
		b.WriteString(e.Addr)
	}
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, or 0 when err
// is not a classified SSH error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
