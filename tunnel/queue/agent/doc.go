// Package agent is `clipbridge queue-agent`: the queue co-process of the co-process protocol
// (tunnel/queue's coproc.go) as a Go program, for execution hosts that already have the
// clipbridge binary because `serve --start-gateway` copied it there.
//
// The host worker starts it through its runner and talks to it over stdin and stdout exactly as
// it talks to the shell co-process it would otherwise ship; the worker's client cannot tell them
// apart. The agent serves the queue directory with queuedir.Store: requests/ is watched with
// inotify, every operation is a few system calls with no fork, and os.Root confines it to the
// queue directory without the check-then-act windows the shell has. A request then costs the
// execution host a few system calls instead of half a dozen processes.
package agent
