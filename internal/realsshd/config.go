package realsshd

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config holds per-test sshd settings; zero values keep sshd's defaults
// except where noted.
type Config struct {
	// AllowTCPForwarding is the AllowTcpForwarding value; "" means "yes".
	AllowTCPForwarding string
	// PermitListen, if set, restricts remote forwards (e.g. "none").
	PermitListen string
	// ClientAliveInterval, if set, makes sshd probe an idle client.
	ClientAliveInterval time.Duration
	// ClientAliveCountMax is the number of unanswered probes sshd tolerates.
	ClientAliveCountMax int
	// Extra lines are appended to sshd_config verbatim.
	Extra []string
}

// writeKeys creates the host key and the authorized client key.
func (s *Server) writeKeys() error {
	hostPub, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if s.HostKey, err = ssh.NewPublicKey(hostPub); err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(hostPriv, "")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "host_ed25519"), pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if s.ClientSigner, err = ssh.NewSignerFromKey(clientPriv); err != nil {
		return err
	}
	if block, err = ssh.MarshalPrivateKey(clientPriv, ""); err != nil {
		return err
	}
	s.ClientKeyPEM = pem.EncodeToMemory(block)
	return os.WriteFile(filepath.Join(s.dir, "authorized_keys"), ssh.MarshalAuthorizedKey(s.ClientSigner.PublicKey()), 0o600)
}

func (s *Server) writeConfig(cfg Config) error {
	fwd := cfg.AllowTCPForwarding
	if fwd == "" {
		fwd = "yes"
	}
	lines := []string{
		"ListenAddress " + s.Addr(),
		"HostKey " + filepath.Join(s.dir, "host_ed25519"),
		"AuthorizedKeysFile " + filepath.Join(s.dir, "authorized_keys"),
		"PidFile none",
		// The temporary directory's parents are not root-owned 0755 all
		// the way up, which StrictModes would reject.
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + s.User,
		"UseDNS no",
		"PrintMotd no",
		"LogLevel VERBOSE",
		"AllowTcpForwarding " + fwd,
	}
	if cfg.PermitListen != "" {
		lines = append(lines, "PermitListen "+cfg.PermitListen)
	}
	if cfg.ClientAliveInterval > 0 {
		lines = append(lines, fmt.Sprintf("ClientAliveInterval %d", max(1, int(cfg.ClientAliveInterval.Seconds()))))
	}
	if cfg.ClientAliveCountMax > 0 {
		lines = append(lines, fmt.Sprintf("ClientAliveCountMax %d", cfg.ClientAliveCountMax))
	}
	lines = append(lines, cfg.Extra...)
	s.configPath = filepath.Join(s.dir, "sshd_config")
	return os.WriteFile(s.configPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}
