package config

import (
	"errors"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// SSH is the connection to the execution host, shared by the SSH tunnel
// and the ssh runner.
type SSH struct {
	Host               string
	Port               int
	User               string
	KeyFile            string
	Key                Secret // CLIPBRIDGE_SSH_KEY: key text
	Passphrase         Secret // for an encrypted key
	KnownHostsFile     string
	KnownHosts         string // CLIPBRIDGE_SSH_KNOWN_HOSTS: known_hosts text
	InsecureIgnoreHost bool
	ConnectTimeout     time.Duration
	Keepalive          time.Duration
	KeepaliveMax       int
	RemoteListen       string

	passphraseFile string
}

// sshSettings configure the SSH transport (and the ssh runner).
var sshSettings = []setting{
	{flag: "ssh-host", env: "CLIPBRIDGE_SSH_HOST",
		usage: "execution host to reach over SSH; enables the SSH remote forward (or the ssh runner)",
		set:   func(c *Config, v string) error { c.SSH.Host = v; return nil }},
	{flag: "ssh-port", env: "CLIPBRIDGE_SSH_PORT", def: "22",
		usage: "SSH port",
		set: func(c *Config, v string) error {
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				return errors.New("want a port number 1-65535")
			}
			c.SSH.Port = p
			return nil
		}},
	{flag: "ssh-user", env: "CLIPBRIDGE_SSH_USER",
		usage: "SSH login name (default: the user running clipbridge)",
		set:   func(c *Config, v string) error { c.SSH.User = v; return nil }},
	{flag: "ssh-key-file", env: "CLIPBRIDGE_SSH_KEY_FILE",
		usage: "private key file; then CLIPBRIDGE_SSH_KEY, the ssh-agent (SSH_AUTH_SOCK) and ~/.ssh/id_* are tried",
		set: func(c *Config, v string) error {
			c.SSH.KeyFile = v
			if v != "" {
				if _, err := os.Stat(v); err != nil {
					return errors.New("cannot read the file")
				}
			}
			return nil
		}},
	{env: "CLIPBRIDGE_SSH_KEY", secret: true,
		usage: "private key text (secret: environment only)",
		set:   func(c *Config, v string) error { c.SSH.Key = NewSecret(v); return nil }},
	{env: "CLIPBRIDGE_SSH_KEY_PASSPHRASE", secret: true,
		usage: "passphrase of an encrypted key (secret: environment only)",
		set:   func(c *Config, v string) error { c.SSH.Passphrase = NewSecret(v); return nil }},
	{flag: "ssh-key-passphrase-file", env: "CLIPBRIDGE_SSH_KEY_PASSPHRASE_FILE",
		usage: "file holding the key's passphrase",
		set:   func(c *Config, v string) error { c.SSH.passphraseFile = v; return nil }},
	{flag: "ssh-known-hosts", env: "CLIPBRIDGE_SSH_KNOWN_HOSTS_FILE",
		usage: "known_hosts file (default ~/.ssh/known_hosts; hashed and [host]:port entries work)",
		set:   func(c *Config, v string) error { c.SSH.KnownHostsFile = v; return nil }},
	{env: "CLIPBRIDGE_SSH_KNOWN_HOSTS",
		usage: "known_hosts text, as Paperclip's SSH spec carries it",
		set:   func(c *Config, v string) error { c.SSH.KnownHosts = v; return nil }},
	{flag: "ssh-insecure-ignore-host-key", env: "CLIPBRIDGE_SSH_INSECURE_IGNORE_HOST_KEY", boolean: true,
		usage: "skip host key verification (logged as a warning on every connect)",
		set: func(c *Config, v string) (err error) {
			c.SSH.InsecureIgnoreHost, err = strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			return nil
		}},
	{flag: "ssh-connect-timeout", env: "CLIPBRIDGE_SSH_CONNECT_TIMEOUT", def: "10s",
		usage: "bound on the TCP connect plus SSH handshake",
		set: func(c *Config, v string) (err error) {
			c.SSH.ConnectTimeout, err = ParseDuration(v)
			return err
		}},
	{flag: "ssh-keepalive", env: "CLIPBRIDGE_SSH_KEEPALIVE", def: "5s",
		usage: "interval of keepalive@openssh.com requests",
		set: func(c *Config, v string) (err error) {
			c.SSH.Keepalive, err = ParseDuration(v)
			return err
		}},
	{flag: "ssh-keepalive-max", env: "CLIPBRIDGE_SSH_KEEPALIVE_MAX", def: "3",
		usage: "unanswered keepalives before the link is declared dead",
		set: func(c *Config, v string) (err error) {
			c.SSH.KeepaliveMax, err = ParseCount(v)
			return err
		}},
	{flag: "remote-listen", env: "CLIPBRIDGE_REMOTE_LISTEN", def: "127.0.0.1:0",
		usage: "address the execution host's sshd listens on for the agent (port 0: sshd picks, then kept across reconnects)",
		set: func(c *Config, v string) error {
			c.SSH.RemoteListen = v
			if _, err := netip.ParseAddrPort(v); err != nil {
				return errors.New("want an IP literal and port, e.g. 127.0.0.1:0")
			}
			return nil
		}},
}

// finishSSH reads the passphrase file, if any.
func (c *Config) finishSSH() []error {
	var errs []error
	if c.SSH.passphraseFile != "" {
		if !c.SSH.Passphrase.IsZero() {
			errs = append(errs, errors.New("CLIPBRIDGE_SSH_KEY_PASSPHRASE and --ssh-key-passphrase-file/CLIPBRIDGE_SSH_KEY_PASSPHRASE_FILE are both set: use one"))
		}
		p, err := ReadTokenFile(c.SSH.passphraseFile)
		if err != nil {
			errs = append(errs, errors.New("--ssh-key-passphrase-file/CLIPBRIDGE_SSH_KEY_PASSPHRASE_FILE: "+err.Error()))
		}
		c.SSH.Passphrase = NewSecret(p)
	}
	return errs
}
