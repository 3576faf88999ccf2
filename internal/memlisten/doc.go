// Package memlisten is a net.Listener whose connections come from the
// program instead of a socket, and a buffered in-memory connection to go
// with it.
//
// The SSH tunnel serves one http.Server for its whole life on a Listener
// that each SSH connection's forwarded port feeds in turn, so a reconnect
// swaps the source without restarting the server. Tests put the same
// Listener behind the in-process SSH server's forwarded ports and connect to
// it with Dial, so a whole tunnel runs inside a testing/synctest bubble.
//
// It imports nothing from clipbridge, so both the production tunnel and the
// test fixtures can use it without import cycles.
package memlisten
