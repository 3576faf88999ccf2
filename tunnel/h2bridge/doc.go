// Package h2bridge is Paperclip's http2_v1 bridge, both ends: one
// HTTP/2 cleartext session over a duplex exec channel (the stdin and
// stdout of a command the host starts in the sandbox: an SSH session,
// `docker exec -i`, `kubectl exec -i`, or a local process), one stream
// per agent request, no polling and no exec per call.
//
// The sandbox end (RunGateway, `clipbridge gateway` with
// PAPERCLIP_API_BRIDGE_MODE=http2_v1) listens for the agent on the
// port the host assigned, writes exactly one READY line on stdout, then
// speaks HTTP/2 as the client on stdin/stdout. Every local HTTP/1.1
// request becomes one stream.
//
// The host end (Host) starts that gateway through a runner, checks the
// READY line's nonce and the client preface after it with bounded
// buffers (ready.go), and serves the callback API's own handler on the
// session with x/net's http2.Server: the same token check, canonical
// path, allowlists, caps, credential swap and metrics as every other
// transport. It pings the gateway, and re-opens a lost session with
// backoff on the same port, so the agent's URL stays valid.
//
// Wire facts follow Paperclip's http2-bridge-server.ts and the gateway
// embedded in sandbox-callback-bridge.ts (reference §8): the env names,
// the READY frame, the `bridge.internal` authority, the 503
// {"error":"bridge_unavailable"} of a lost session and the mapping of
// an indeterminate outcome to 409.
package h2bridge
