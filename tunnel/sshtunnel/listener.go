package sshtunnel

import (
	"net"

	"github.com/clipbridge/clipbridge/internal/memlisten"
)

// feed accepts from one SSH forwarded listener until it closes (the SSH
// connection ended) and hands each connection to the tunnel's one
// memlisten.Listener. The http.Server sees only that listener for its whole
// life, so a reconnect swaps the source without restarting the server, and
// Shutdown drains requests from every connection at once.
func feed(dst *memlisten.Listener, src net.Listener) {
	for {
		c, err := src.Accept()
		if err != nil {
			return
		}
		cc := newChannelConn(c)
		if dst.Deliver(cc) != nil {
			_ = cc.Close()
			return
		}
	}
}
