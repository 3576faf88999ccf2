package realsshd

import "syscall"

// daemonAttr puts sshd in its own process group, so no signal sshd sends to
// its group can reach the test binary, and has the kernel SIGKILL it if the
// test binary dies, so a crashed or timed-out test leaves no sshd behind.
func daemonAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
