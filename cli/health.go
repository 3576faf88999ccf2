package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealth probes the admin /readyz of a running sidecar and exits 0
// when it answers 200. It exists so a container image without a shell or
// curl can still have a HEALTHCHECK: the image runs `clipbridge health`
// with the same CLIPBRIDGE_ADMIN_LISTEN the sidecar uses.
func runHealth(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	def := getenv("CLIPBRIDGE_ADMIN_LISTEN")
	addr := fs.String("admin", def, "admin listener to probe, host:port (env CLIPBRIDGE_ADMIN_LISTEN)")
	path := fs.String("path", "/readyz", "path to probe: /readyz (serving) or /healthz (alive)")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if code, ok := subcommandFlags(fs, "Usage: clipbridge health [--admin host:port] [--path /readyz] [--timeout 2s]",
		args, stdout, stderr); !ok {
		return code
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil || port == "0" {
		fmt.Fprintf(stderr, "clipbridge health: --admin/CLIPBRIDGE_ADMIN_LISTEN %q: want the sidecar's fixed admin host:port\n", *addr)
		return exitUsage
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + *path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "clipbridge health: %v\n", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "clipbridge health: %s: %v\n", url, err)
		return exitFailure
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "clipbridge health: %s: %s\n", url, resp.Status)
		return exitFailure
	}
	fmt.Fprintf(stdout, "ok %s\n", url)
	return exitOK
}
