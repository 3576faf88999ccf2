//go:build !linux

package harden

// NoDump does nothing where there is no prctl; macOS has no
// /proc/<pid>/environ for another process to read.
func NoDump() error { return nil }
