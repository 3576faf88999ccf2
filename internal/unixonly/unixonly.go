//go:build unix

// Package unixonly declares that clipbridge runs on Unix systems only
// (supported and tested: Linux and macOS on amd64 and arm64). The main
// package imports it for that declaration alone: on Windows this file's
// build constraint leaves the package without files, so
// `GOOS=windows go build` stops at once with "build constraints exclude all
// Go files in .../internal/unixonly" instead of a screenful of undefined
// syscall names from deep inside the dependencies.
//
// Windows is not supported because the sidecar's safety rests on Unix
// process semantics: every command it starts (the local and exec-prefix
// runners, the demo's in-process SSH server's sessions) runs in its own
// process group so a time-out or shutdown kills the whole tree (Setpgid,
// kill(-pgid)); the queue worker refuses symlinks and FIFOs in the queue
// directory with O_NOFOLLOW|O_NONBLOCK and finds stale locks with
// kill(pid, 0); the upstream pool peeks idle connections with
// MSG_PEEK|MSG_DONTWAIT; and Unix signals such as SIGUSR1 are relayed over
// SSH. Making each of those portable would mean a second, untested
// implementation of the parts that keep the host safe. Paperclip's control plane
// and execution hosts are Linux and macOS machines, where the sidecar runs.
// README.md "Platforms" says the same for users.
package unixonly
