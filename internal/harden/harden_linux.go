package harden

import "golang.org/x/sys/unix"

// NoDump marks the process not dumpable (prctl PR_SET_DUMPABLE 0): its
// /proc/<pid>/environ, mem, fd and the like become root's, other
// processes of the same user cannot ptrace it, and it leaves no core
// dump. Children are unaffected: the flag resets on execve.
func NoDump() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
