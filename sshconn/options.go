package sshconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/user"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by Options.withDefaults. They live here, next to the
// fields they fill, so the lead's config package can quote them in help text.
const (
	// DefaultPort is the SSH port used when Options.Port is 0.
	DefaultPort = 22
	// DefaultConnectTimeout bounds the TCP connect plus the SSH handshake,
	// like OpenSSH's ConnectTimeout; Paperclip's own ssh calls use 10 s.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultKeepaliveInterval is how often a keepalive@openssh.com request
	// is sent.
	DefaultKeepaliveInterval = 5 * time.Second
	// DefaultKeepaliveMax is how many keepalive intervals may pass without
	// any answer before the link is declared dead (5 s × 3 = 15 s).
	DefaultKeepaliveMax = 3
)

// Options describe one SSH connection. Secret fields (KeyPEM, Passphrase) are
// only used in memory: they are never logged, written to disk, or put in an
// error message.
type Options struct {
	// Host is the execution host name or IP address. Required.
	Host string
	// Port is the SSH port; 0 means DefaultPort.
	Port int
	// User is the login name; empty means the user running clipbridge.
	User string

	// KeyFile is a private key file (OpenSSH or PEM format), tried first.
	KeyFile string
	// KeyPEM is a private key given as text (e.g. from CLIPBRIDGE_SSH_KEY or
	// Paperclip's SSH spec). Secret.
	KeyPEM []byte
	// Passphrase decrypts an encrypted KeyFile, KeyPEM or default key file.
	// Secret.
	Passphrase []byte
	// AgentSocket is the ssh-agent socket; empty means Getenv("SSH_AUTH_SOCK").
	AgentSocket string
	// NoAgent disables the ssh-agent even when SSH_AUTH_SOCK is set.
	NoAgent bool
	// NoDefaultKeys disables the ~/.ssh/id_ed25519, id_ecdsa and id_rsa
	// fallbacks.
	NoDefaultKeys bool

	// KnownHostsFile is an OpenSSH known_hosts file. When neither it nor
	// KnownHosts is set, ~/.ssh/known_hosts is used (a missing default file
	// counts as empty, so the host is unknown and the connection refused).
	KnownHostsFile string
	// KnownHosts is known_hosts text, as Paperclip's SSH spec carries it.
	// It may be combined with KnownHostsFile.
	KnownHosts string
	// InsecureIgnoreHostKey skips host key verification. A warning is
	// logged on every connect.
	InsecureIgnoreHostKey bool

	// ConnectTimeout bounds the TCP connect plus the SSH handshake;
	// 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// KeepaliveInterval is the time between keepalive requests;
	// 0 means DefaultKeepaliveInterval, negative disables keepalives.
	KeepaliveInterval time.Duration
	// KeepaliveMax is how many intervals may pass without an answer before
	// the link is declared dead; 0 means DefaultKeepaliveMax.
	KeepaliveMax int
	// KeepaliveRTT, if set, observes the round-trip time of every answered
	// keepalive in seconds (the tunnel passes its
	// clipbridge_tunnel_keepalive_rtt_seconds histogram).
	KeepaliveRTT prometheus.Observer

	// Getenv reads HOME, USER and SSH_AUTH_SOCK; nil means an empty
	// environment (no agent, no default keys, no default known_hosts).
	Getenv func(string) string
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// DialContext opens the transport; nil means a net.Dialer. Tests use it
	// to run SSH over an in-memory pipe or through a fault-injecting relay.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Addr returns the host:port this connection dials.
func (o Options) Addr() string {
	port := o.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(port))
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Host == "" {
		errs = append(errs, errors.New("ssh host is required"))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("ssh port %d out of range 1-65535", o.Port))
	}
	if o.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("ssh connect timeout %s is negative", o.ConnectTimeout))
	}
	if o.KeepaliveMax < 0 {
		errs = append(errs, fmt.Errorf("ssh keepalive max %d is negative", o.KeepaliveMax))
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy with every zero field filled in.
func (o Options) withDefaults() Options {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.User == "" {
		// Like OpenSSH, the login name defaults to the account running the
		// process; USER is only a fallback for when the user database is
		// unavailable (static binaries in minimal containers).
		if u, err := user.Current(); err == nil {
			o.User = u.Username
		} else {
			o.User = o.Getenv("USER")
		}
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.KeepaliveInterval == 0 {
		o.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if o.KeepaliveMax == 0 {
		o.KeepaliveMax = DefaultKeepaliveMax
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DialContext == nil {
		o.DialContext = (&net.Dialer{}).DialContext
	}
	return o
}
