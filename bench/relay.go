package main

import (
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/clipbridge/clipbridge/internal/relayparent"
	"github.com/clipbridge/clipbridge/runner"
)

// The relay cases stand in for a sandbox reached through a provider SDK's runner.execute
// (E2B, Daytona, Modal): every exec goes through the relay protocol to a parent that runs it
// here after a fixed delay, the provider's round trip. Ours is `serve --runner relay
// --start-gateway` with that parent on its fd 3, as the npm launcher runs it; the baseline is
// the exec-per-operation worker with each of its execs sent through the same relay code.

// startQueueRelayOurs runs clipbridge under a relay parent.
func startQueueRelayOurs(bin, dir, upstream string, s secrets, delay time.Duration) (*queueTarget, error) {
	child, parent, err := relayparent.Pair()
	if err != nil {
		return nil, err
	}
	p := &relayparent.Parent{Delay: delay}
	served := make(chan struct{})
	go func() { defer close(served); _ = p.Serve(parent) }()
	stopParent := func() { _ = parent.Close(); <-served }
	t, err := startClipbridgeFiles(bin, dir, upstream, s, nil, []*os.File{child},
		"--queue-dir", filepath.Join(dir, "queue"), "--runner", "relay", "--start-gateway")
	if err != nil {
		stopParent()
		return nil, err
	}
	t.name = "clipbridge queue, relay"
	stop := t.stop
	t.stop = func() { stop(); stopParent() }
	return &queueTarget{target: t, execs: func() (float64, error) { return float64(p.Execs()), nil }}, nil
}

// startBenchRelay is a relay runner whose parent runs each command here after delay, in one
// process, for the baseline worker.
func startBenchRelay(delay time.Duration) (*runner.Relay, func(), error) {
	child, parent, err := relayparent.Pair()
	if err != nil {
		return nil, nil, err
	}
	conn, err := net.FileConn(child)
	_ = child.Close()
	if err != nil {
		_ = parent.Close()
		return nil, nil, err
	}
	r, err := runner.NewRelay(runner.RelayOptions{Conn: conn})
	if err != nil {
		_ = parent.Close()
		return nil, nil, err
	}
	p := &relayparent.Parent{Delay: delay}
	served := make(chan struct{})
	go func() { defer close(served); _ = p.Serve(parent) }()
	return r, func() { _ = r.Close(); _ = parent.Close(); <-served }, nil
}
