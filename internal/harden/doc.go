// Package harden makes the sidecar's own process harder to read from
// outside. The sidecar holds the run's real credential (in its
// environment, as launchers pass it, and in memory); a process of the
// same user, such as a command the local runner started in a "sandbox"
// on this machine, could otherwise read /proc/<pid>/environ or attach a
// debugger and take it.
package harden
