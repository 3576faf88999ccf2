package sshconn

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultKeyNames are tried in OpenSSH's order when no other key works.
var defaultKeyNames = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// agentDialTimeout bounds connecting to a local ssh-agent socket; a wedged
// agent must not stall the whole connect.
const agentDialTimeout = 2 * time.Second

// credentials is the set of keys offered to the server, with a description of
// each for error messages (source and public fingerprint only).
type credentials struct {
	signers []ssh.Signer
	tried   []string
	closers []func() error
}

func (c *credentials) close() {
	for _, f := range c.closers {
		_ = f()
	}
}

// add appends signers from one source, skipping keys already offered (an
// agent usually holds the same key as ~/.ssh/id_ed25519).
func (c *credentials) add(source string, signers ...ssh.Signer) {
	for _, s := range signers {
		fp := ssh.FingerprintSHA256(s.PublicKey())
		dup := false
		for _, have := range c.signers {
			if ssh.FingerprintSHA256(have.PublicKey()) == fp {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		c.signers = append(c.signers, s)
		c.tried = append(c.tried, fmt.Sprintf("%s (%s %s)", source, s.PublicKey().Type(), fp))
	}
}

// loadCredentials collects keys in the order an OpenSSH user expects: the
// explicit key file, the key text, the agent, then the default key files.
// Problems with explicitly configured keys are errors; problems with the
// agent or default files are logged and skipped.
func loadCredentials(o Options) (*credentials, error) {
	c := &credentials{}
	addr := o.Addr()
	if o.KeyFile != "" {
		data, err := os.ReadFile(o.KeyFile)
		if err != nil {
			return nil, &Error{Kind: KindConfig, Addr: addr, Detail: "cannot read key file " + o.KeyFile, Err: err}
		}
		s, err := parseKey(data, o.Passphrase)
		if err != nil {
			return nil, &Error{Kind: KindConfig, Addr: addr, Detail: "cannot use key file " + o.KeyFile, Err: err}
		}
		c.add("key file "+o.KeyFile, s)
	}
	if len(o.KeyPEM) > 0 {
		s, err := parseKey(o.KeyPEM, o.Passphrase)
		if err != nil {
			return nil, &Error{Kind: KindConfig, Addr: addr, Detail: "cannot use the ssh key text", Err: err}
		}
		c.add("key text", s)
	}
	if !o.NoAgent {
		sock := o.AgentSocket
		if sock == "" {
			sock = o.Getenv("SSH_AUTH_SOCK")
		}
		if sock != "" {
			if err := c.addAgent(sock); err != nil {
				o.Logger.Warn("ssh agent unusable", "socket", sock, "error", err)
			}
		}
	}
	if home := o.Getenv("HOME"); !o.NoDefaultKeys && home != "" {
		for _, name := range defaultKeyNames {
			path := filepath.Join(home, ".ssh", name)
			data, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				o.Logger.Debug("default ssh key skipped", "path", path, "error", err)
				continue
			}
			s, err := parseKey(data, o.Passphrase)
			if err != nil {
				o.Logger.Debug("default ssh key skipped", "path", path, "error", err)
				continue
			}
			c.add("~/.ssh/"+name, s)
		}
	}
	if len(c.signers) == 0 {
		return nil, &Error{Kind: KindConfig, Addr: addr,
			Detail: "no ssh private key available: give a key file or key text, start an ssh-agent (SSH_AUTH_SOCK), or create ~/.ssh/id_ed25519"}
	}
	return c, nil
}

func (c *credentials) addAgent(sock string) error {
	conn, err := net.DialTimeout("unix", sock, agentDialTimeout)
	if err != nil {
		return err
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		_ = conn.Close()
		return err
	}
	// The agent signs during the handshake, so its socket stays open until
	// Dial returns.
	c.closers = append(c.closers, conn.Close)
	c.add("ssh-agent key", signers...)
	return nil
}

// parseKey parses a private key, using the passphrase only when the key is
// encrypted. The returned errors come from x/crypto and never echo key bytes.
func parseKey(data, passphrase []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if len(passphrase) == 0 {
			return nil, errors.New("key is encrypted and no passphrase was given")
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(data, passphrase)
		if err != nil {
			return nil, fmt.Errorf("cannot decrypt key (wrong passphrase?): %w", err)
		}
	}
	return s, err
}

// authDetail explains an authentication failure without revealing key
// contents: it lists the sources and public fingerprints that were offered.
func authDetail(user string, tried []string) string {
	return fmt.Sprintf("server rejected user %q with every key offered (publickey: %s); check the user name and that one of these public keys is in the server's authorized_keys",
		user, strings.Join(tried, ", "))
}
