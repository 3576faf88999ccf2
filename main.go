// Command clipbridge is a per-run sidecar that lets an AI agent on a
// remote execution host call back into the Paperclip control plane
// without ever holding the run's real credential. The commands live in
// package cli; this file only hands them the process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clipbridge/clipbridge/cli"
)

// version and commit are stamped at build time:
// go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second signal forces the exit a first one asked for politely.
		<-ctx.Done()
		stop()
		force := make(chan os.Signal, 1)
		signal.Notify(force, os.Interrupt, syscall.SIGTERM)
		<-force
		fmt.Fprintln(os.Stderr, "clipbridge: second signal, exiting without waiting for the drain")
		os.Exit(1)
	}()
	os.Exit(cli.Run(ctx, cli.Build{Version: version, Commit: commit}, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
