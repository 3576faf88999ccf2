// Package worker is the host side of queue_v1: Worker serves one queue directory on the
// execution host with one http.Handler, the callback API's trusted handler it is handed.
//
// Run's loop (loop.go) lists requests/ and dispatches each new file to a job (dispatch.go,
// job.go): read it within the body budget, decode and authenticate the envelope (tunnel/queue),
// build the request net/http would have built (request.go), call the handler into an in-memory
// ResponseWriter (capture.go), and write the response envelope back, guarded on the request
// file, under Paperclip's lock. When Run's ctx ends the loop drains for DrainTimeout; then
// finalize (stop.go) answers what is left with Paperclip's retryable 503 or, for a mutation cut
// short, the non-retryable 409. A watchdog (health.go) restarts a store that stopped listing.
//
// The directory is reached through a store (store.go): queuedir.Store when it is on this
// machine, or remoteStore (remote.go, coproc.go) when a runner reaches it. remoteStore keeps one
// co-process on the execution host, the shell script in coproc_script.go or `clipbridge
// queue-agent` (package agent), and speaks the co-process protocol of tunnel/queue to it. A
// runner that cannot stream (runner.IsOneShot: the relay, an exec prefix with OneShot) gets
// onceStore (once.go, once_exec.go, once_script.go) instead: the same protocol in one-shot mode,
// one exec per response that also waits for and returns the next request.
package worker
