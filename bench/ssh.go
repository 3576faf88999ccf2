package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// sshHost is a real OpenSSH sshd on loopback standing in for the
// execution host, with the files an SSH client needs to reach it.
type sshHost struct {
	srv        *realsshd.Server
	key        string // authorized private key file
	knownHosts string // known_hosts pinning sshd's host key
}

func startSSHHost(dir string) (*sshHost, error) {
	if !realsshd.Available() {
		return nil, fmt.Errorf("%s not found (apt-get install openssh-server)", realsshd.Binary)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	srv, err := realsshd.Start(dir, realsshd.Config{})
	if err != nil {
		return nil, err
	}
	h := &sshHost{srv: srv, key: filepath.Join(dir, "client_key"), knownHosts: filepath.Join(dir, "client_known_hosts")}
	if err := os.WriteFile(h.key, srv.ClientKeyPEM, 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	if err := os.WriteFile(h.knownHosts, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	return h, nil
}

// clipbridgeEnv points clipbridge's SSH settings at the host.
func (h *sshHost) clipbridgeEnv() []string {
	return []string{
		"CLIPBRIDGE_SSH_HOST=" + h.srv.Host,
		"CLIPBRIDGE_SSH_PORT=" + strconv.Itoa(h.srv.Port),
		"CLIPBRIDGE_SSH_USER=" + h.srv.User,
		"CLIPBRIDGE_SSH_KEY_FILE=" + h.key,
		"CLIPBRIDGE_SSH_KNOWN_HOSTS_FILE=" + h.knownHosts,
	}
}

// sshArgs are the OpenSSH client options used for the reference tunnel
// and the exec-per-operation baseline: strict host key checking against
// the pinned key, the one key, no user configuration. Ciphers and key
// exchange are OpenSSH's defaults, as clipbridge uses x/crypto/ssh's.
func (h *sshHost) sshArgs() []string {
	return []string{
		"-F", "/dev/null",
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=10",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + h.knownHosts,
		"-o", "IdentitiesOnly=yes",
		"-i", h.key,
		"-p", strconv.Itoa(h.srv.Port),
	}
}

func (h *sshHost) login() string { return h.srv.User + "@" + h.srv.Host }

func (h *sshHost) close() { _ = h.srv.Close() }

// startClipbridgeSSH runs clipbridge with its SSH remote forward to the
// host: the agent's URL is a port of the host's sshd. The case's CPU and
// memory include sshd's per-connection processes.
func startClipbridgeSSH(bin, dir, upstream string, s secrets, h *sshHost) (*target, error) {
	t, err := startClipbridge(bin, dir, upstream, s, h.clipbridgeEnv())
	if err != nil {
		return nil, err
	}
	t.name = "clipbridge-ssh"
	t.proc = tree(append(t.proc.roots, h.srv.Pid())...)
	return t, nil
}

// startClipbridgeH2SSH runs clipbridge's http2_v1 bridge over the ssh
// runner: one long-lived `ssh` session carries the gateway's stdin and
// stdout, and the agent's URL is the gateway's port on the host. The
// case's CPU and memory include sshd's processes and the gateway.
func startClipbridgeH2SSH(bin, dir, upstream string, s secrets, h *sshHost) (*target, error) {
	t, err := startClipbridgeH2(bin, dir, upstream, s, h.clipbridgeEnv(), "ssh")
	if err != nil {
		return nil, err
	}
	t.name = "h2-ssh"
	t.proc = tree(append(t.proc.roots, h.srv.Pid())...)
	return t, nil
}

// startClipbridgeH2Local is the same bridge with the gateway a child of
// clipbridge on this machine (the local runner's pipes): set beside the
// local listener and h2-ssh, it tells the gateway's cost from SSH's.
func startClipbridgeH2Local(bin, dir, upstream string, s secrets) (*target, error) {
	t, err := startClipbridgeH2(bin, dir, upstream, s, nil, "local")
	if err != nil {
		return nil, err
	}
	t.name = "h2-local"
	return t, nil
}

func startClipbridgeH2(bin, dir, upstream string, s secrets, env []string, runner string) (*target, error) {
	t, err := startClipbridge(bin, dir, upstream, s, env,
		"--queue-dir", filepath.Join(dir, "queue"), "--runner", runner, "--bridge-mode", "http2_v1")
	if err != nil {
		return nil, err
	}
	if t.mode != "http2_v1" {
		t.stop()
		return nil, fmt.Errorf("clipbridge fell back to %s instead of http2_v1 (see its log in %s)", t.mode, dir)
	}
	return t, nil
}

// startSSHReference is what a user would otherwise run: clipbridge's
// local listener, reached through OpenSSH's own `ssh -N -R` forward. The
// case's CPU and memory include clipbridge, the ssh client and sshd's
// per-connection processes.
func startSSHReference(bin, dir, upstream string, s secrets, h *sshHost) (*target, error) {
	local, err := startClipbridge(bin, dir, upstream, s, nil)
	if err != nil {
		return nil, err
	}
	port, err := testsupport.LoopbackPort()
	if err != nil {
		local.stop()
		return nil, err
	}
	remote := "127.0.0.1:" + strconv.Itoa(port)
	args := append(h.sshArgs(), "-N", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=5",
		"-R", remote+":"+local.base[len("http://"):], h.login())
	cmd := exec.Command("ssh", args...)
	errf, err := os.Create(filepath.Join(dir, "ssh-reference.log"))
	if err != nil {
		local.stop()
		return nil, err
	}
	defer errf.Close()
	cmd.Stderr = errf
	if err := cmd.Start(); err != nil {
		local.stop()
		return nil, fmt.Errorf("ssh: %w", err)
	}
	stopSSH, exited := reap(cmd, 5*time.Second)
	stop := func() {
		stopSSH()
		local.stop()
	}
	if err := waitListening(remote, 15*time.Second, exited); err != nil {
		stop()
		log, _ := os.ReadFile(errf.Name())
		return nil, fmt.Errorf("ssh -R: %w: %s", err, log)
	}
	return &target{
		name: "ssh -R (OpenSSH)", base: "http://" + remote, auth: local.auth,
		proc: tree(local.proc.roots[0], cmd.Process.Pid, h.srv.Pid()), stop: stop,
	}, nil
}
