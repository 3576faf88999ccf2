//go:build unix && !linux

package realsshd

import "syscall"

// daemonAttr puts sshd in its own process group, so no signal sshd sends to
// its group can reach the test binary. Parent-death signals are Linux-only,
// so elsewhere a crashed test can leave its sshd behind. The harness finds
// sshd's children through /proc, which macOS lacks, so KillServing and the
// clean-up of session processes work on Linux only; this file keeps the
// packages whose tests import the harness type-checking (go vet) on macOS.
func daemonAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
