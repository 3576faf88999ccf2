package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

// runStatus fetches a running sidecar's /status and prints it for a
// person (or, with --json, as it came).
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	admin := fs.String("admin", getenv("CLIPBRIDGE_ADMIN_LISTEN"), "the sidecar's admin listener: host:port or its URL, as in the ready line's admin_url (env CLIPBRIDGE_ADMIN_LISTEN)")
	asJSON := fs.Bool("json", false, "print the /status JSON as the sidecar sent it")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if code, ok := subcommandFlags(fs, "Usage: clipbridge status --admin host:port|URL [--json]\n\nShows what a running sidecar is doing: its transport, upstream, requests in flight, queue depth and last error.",
		args, stdout, stderr); !ok {
		return code
	}
	base := strings.TrimSuffix(*admin, "/")
	if base == "" {
		fmt.Fprintln(stderr, "clipbridge status: --admin is required (the admin_url of the ready line, or CLIPBRIDGE_ADMIN_LISTEN)")
		return exitUsage
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status", nil)
	if err != nil {
		fmt.Fprintf(stderr, "clipbridge status: --admin %q: %v\n", *admin, err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "clipbridge status: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "clipbridge status: %s/status: %s %v\n", base, resp.Status, err)
		return exitFailure
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return exitOK
	}
	var r statusReport
	if err := json.Unmarshal(body, &r); err != nil {
		fmt.Fprintf(stderr, "clipbridge status: %s/status is not a status report: %v\n", base, err)
		return exitFailure
	}
	writeStatus(stdout, r, time.Now())
	return exitOK
}

// writeStatus prints a status report as aligned lines.
func writeStatus(w io.Writer, r statusReport, now time.Time) {
	ready := "ready"
	if !r.Ready {
		ready = "NOT READY"
	}
	fmt.Fprintf(w, "clipbridge %s (commit %s), %s, up %s, %s\n", r.Version, short(r.Commit), r.Mode, r.Uptime, ready)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	state := "up"
	if !r.Transport.Up {
		state = "DOWN"
	}
	line := state
	if r.Transport.AgentURL != "" {
		line += ", agent URL " + r.Transport.AgentURL
	}
	if r.Transport.Reconnects != nil {
		line += fmt.Sprintf(", %.0f reconnects", *r.Transport.Reconnects)
	}
	fmt.Fprintf(tw, "transport\t%s\n", line)
	fmt.Fprintf(tw, "upstream\t%s\n", r.Upstream)
	load := fmt.Sprintf("%.0f in flight", r.InFlight)
	if r.QueueDepth != nil {
		load += fmt.Sprintf(", %.0f queued", *r.QueueDepth)
	}
	fmt.Fprintf(tw, "requests\t%s\n", load)
	if e := r.LastError; e != nil {
		msg := e.Message
		if e.Error != "" {
			msg += ": " + e.Error
		}
		fmt.Fprintf(tw, "last problem\t%s (%s ago) %s\n", e.At.Local().Format(time.TimeOnly), now.Sub(e.At).Round(time.Second), msg)
	} else {
		fmt.Fprintf(tw, "last problem\tnone\n")
	}
	if t := r.TokenFile; t != nil {
		fmt.Fprintf(tw, "run token\t%s, current token %s old\n", t.Path, t.Age)
	}
	_ = tw.Flush()
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
