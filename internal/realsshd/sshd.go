// Package realsshd runs a real OpenSSH sshd for tier-2 tests and benchmarks:
// `sshd -D -e -f <temporary config>` on a free loopback port, with a
// temporary host key, an authorized_keys file for a generated client key and
// `PidFile none`, so it never touches a system sshd. It also finds and kills
// the sshd processes serving one connection, restarts the daemon on the same
// port, and provides a TCP relay that can black-hole its connections.
//
// It works as root (creating the /run/sshd privilege-separation directory
// when missing) and as an ordinary user, who can then only log in as
// themselves.
package realsshd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// Binary is the sshd executable the harness runs.
const Binary = "/usr/sbin/sshd"

// startTimeout bounds how long sshd may take to report it is listening.
const startTimeout = 10 * time.Second

// Server is a running sshd and the credentials to reach it.
type Server struct {
	// Host is always 127.0.0.1.
	Host string
	// Port is sshd's port; it stays the same across Restart.
	Port int
	// User is the login name (the user running the harness).
	User string
	// HostKey is sshd's public host key.
	HostKey ssh.PublicKey
	// ClientKeyPEM is the authorized client private key (OpenSSH format).
	ClientKeyPEM []byte
	// ClientSigner is the same key as a signer.
	ClientSigner ssh.Signer

	dir, configPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *ringBuffer
}

// Available reports whether sshd is installed.
func Available() bool {
	_, err := os.Stat(Binary)
	return err == nil
}

// Start writes keys and a config into dir (which must exist and be private)
// and starts sshd on a free loopback port.
func Start(dir string, cfg Config) (*Server, error) {
	if !Available() {
		return nil, fmt.Errorf("realsshd: %s not found (apt-get install openssh-server)", Binary)
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd running as root chroots its pre-auth child here.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	s := &Server{Host: "127.0.0.1", User: u.Username, dir: dir, logs: newRingBuffer(256 << 10)}
	if err := s.writeKeys(); err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		// Another process can grab the port between probing and sshd's
		// bind; try a fresh one in that case.
		if s.Port, err = testsupport.LoopbackPort(); err != nil {
			return nil, err
		}
		if err := s.writeConfig(cfg); err != nil {
			return nil, err
		}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// KnownHostsLine returns the known_hosts line that pins sshd's host key.
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey)
}

// Logs returns sshd's recent stderr output, for test failure messages.
func (s *Server) Logs() string { return s.logs.String() }

// Pid returns the listening sshd's process id, or 0 when stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// start runs sshd and waits until it reports that it is listening.
func (s *Server) start() error {
	cmd := exec.Command(Binary, "-D", "-e", "-f", s.configPath)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = daemonAttr()
	listening := make(chan struct{})
	var once sync.Once
	cmd.Stderr = &lineWriter{fn: func(line string) {
		s.logs.WriteLine(line)
		if strings.HasPrefix(line, "Server listening on") {
			once.Do(func() { close(listening) })
		}
	}}
	// Session processes inherit stderr and may outlive the listener for a
	// moment; Wait must not hang on them.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case <-listening:
	case <-exited:
		return fmt.Errorf("realsshd: sshd exited at start-up: %s", lastLines(s.logs.String(), 5, " | "))
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("realsshd: sshd did not start listening within %s", startTimeout)
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// Stop kills the listening sshd and every process it spawned, including
// the per-connection sshd processes and their commands, the way a host
// reboot would: clients see their connections drop.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	// Snapshot first: once the listener is gone its children are
	// re-parented and can no longer be found through it.
	pids, _ := descendants(cmd.Process.Pid)
	_ = cmd.Process.Kill()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	<-exited
	return nil
}

// Restart stops sshd and starts it again on the same port with the same
// keys.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	var err error
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		// The port can be briefly unavailable while the killed processes'
		// sockets are torn down.
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Close stops sshd; the directory is left to its owner.
func (s *Server) Close() error { return s.Stop() }

// SessionPIDs returns every process below the listening sshd: the
// per-connection sshd processes and whatever they run.
func (s *Server) SessionPIDs() ([]int, error) {
	pid := s.Pid()
	if pid == 0 {
		return nil, errors.New("realsshd: not running")
	}
	return descendants(pid)
}

// ServingPIDs returns the sshd processes holding the server side of the TCP
// connection whose client end is client (the SSH client's local address).
func (s *Server) ServingPIDs(client net.Addr) ([]int, error) {
	pid := s.Pid()
	if pid == 0 {
		return nil, errors.New("realsshd: not running")
	}
	return servingPIDs(pid, s.Port, client)
}

// KillServing sends sig to the sshd processes serving the connection from
// client, returning how many were signalled.
func (s *Server) KillServing(client net.Addr, sig syscall.Signal) (int, error) {
	pids, err := s.ServingPIDs(client)
	if err != nil {
		return 0, err
	}
	if len(pids) == 0 {
		return 0, fmt.Errorf("realsshd: no sshd process serves %s", client)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			return 0, err
		}
	}
	return len(pids), nil
}

// lastLines returns the last n lines of s joined by sep.
func lastLines(s string, n int, sep string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, sep)
}
