// Package queue implements both ends of Paperclip's queue_v1 sandbox callback bridge,
// wire-compatible with Paperclip's own ends (see the queue_v1 reference, §3–§6):
//
//   - the host worker (Worker) watches `<dir>/requests` on the execution host through a
//     runner, turns each request envelope into an *http.Request for the callback handler, and
//     writes the response envelope back the way Paperclip's worker does (lock, guard, .tmp +
//     rename);
//   - the sandbox gateway (RunGateway) is a drop-in for Paperclip's paperclip-bridge-server.mjs:
//     an HTTP listener on the execution host that checks the bridge token, writes request
//     envelopes and answers with the response envelopes;
//   - the launcher (StartGateway) copies the clipbridge binary to the execution host and starts
//     the gateway there with its secrets delivered outside argv.
//
// Latency is the point of this package. Paperclip's worker pays one remote exec per list, read,
// write and remove, plus a 100 ms poll. Here the local queue is watched with fsnotify, and a
// remote queue is served by one long-lived shell co-process per worker (coproc.go), so an idle run
// costs no execs and a request is picked up within milliseconds.
//
// When the worker knows the bridge token, envelopes must carry an HMAC made by our gateway
// (mac.go); that closes Paperclip's gap where anything able to write `requests/` bypasses the token.
package queue
