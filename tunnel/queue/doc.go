// Package queue is the queue_v1 wire that every end of Paperclip's sandbox callback bridge
// speaks (see the queue_v1 reference, §3–§6): request and response envelopes, their body codec,
// the request file names, the environment, and the co-process protocol. It has no program of
// its own; three programs share it, each in its own package below:
//
//   - worker: the host worker. It watches `<dir>/requests` on the execution host through a
//     runner, turns each request envelope into an *http.Request for the callback handler it is
//     handed, and writes the response envelope back the way Paperclip's worker does (lock, guard,
//     .tmp + rename). A queue on another machine is served by one long-lived co-process there,
//     so an idle run costs no execs and a request is picked up within milliseconds; through a
//     runner that cannot stream (the relay to a sandbox provider's execute), by the one-shot
//     mode of the same protocol, one exec per call and one per long poll while idle.
//   - gateway: `clipbridge gateway`, the in-sandbox drop-in for Paperclip's
//     paperclip-bridge-server.mjs: an HTTP listener for the agent that checks the bridge token,
//     writes signed request envelopes and answers with the response envelopes; plus the launcher
//     (gateway.Launch) that copies the binary to the execution host and starts it there with its
//     secrets outside argv.
//   - agent: `clipbridge queue-agent` (and `--once`), the co-process in Go, used instead of the
//     shell script whenever the binary is on the execution host.
//
// queuedir is the queue directory itself, confined with os.Root (the gateway, the local worker
// and the agent touch it); internal/queuetest is what their tests share.
//
// The pieces meet in files: the gateway writes `requests/<id>.json`, the worker (directly, or
// through the co-process) reads it, calls the handler and publishes `responses/<id>.json`, and
// the gateway replays that to the agent. When the worker knows the bridge token, envelopes must
// carry an HMAC made by our gateway (mac.go); that closes Paperclip's gap where anything able to
// write `requests/` bypasses the token.
package queue
