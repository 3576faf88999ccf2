// Package gateway is the sandbox side of queue_v1, and how the host starts it.
//
// Run is `clipbridge gateway`, a drop-in for Paperclip's paperclip-bridge-server.mjs configured
// by the same PAPERCLIP_BRIDGE_* variables (config.go). Its handler (handler.go) applies the
// checks of the local listener, shared with the callback API through proxy/policy (token, request
// target, content type, size), writes a signed request envelope into the queue directory, waits
// for the worker's response envelope (wait.go) and replays it. The gateway is handed nothing of
// the callback API itself: everything it knows of the host arrives through the queue directory.
//
// Launch (launcher.go) runs on the host: it copies the clipbridge binary to the execution host
// when its sha256 differs (upload.go), starts `<bin> gateway` there through a runner with its
// secrets delivered outside argv, and restarts it on the same port if it exits.
package gateway
