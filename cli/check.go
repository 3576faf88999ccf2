package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/sshconn"
)

// checkTimeout bounds each network step of the preflight.
const checkTimeout = 10 * time.Second

// checker records each preflight step and, unless the report is JSON,
// prints it as it goes.
type checker struct {
	w      io.Writer
	json   bool
	failed bool
	steps  []checkStep
}

// checkStep is one step of the report; in JSON, the "steps" array.
type checkStep struct {
	Name    string `json:"name"`
	Status  string `json:"status"` // pass, fail or skip
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

func (c *checker) pass(step string) {
	c.steps = append(c.steps, checkStep{Name: step, Status: "pass"})
	if !c.json {
		fmt.Fprintf(c.w, "✓ %s\n", step)
	}
}

func (c *checker) fail(step, problem, fix string) {
	c.failed = true
	c.steps = append(c.steps, checkStep{Name: step, Status: "fail", Problem: problem, Fix: fix})
	if !c.json {
		fmt.Fprintf(c.w, "✗ %s: %s\n    fix: %s\n", step, problem, fix)
	}
}

func (c *checker) skip(step, why string) {
	c.steps = append(c.steps, checkStep{Name: step, Status: "skip", Problem: why})
	if !c.json {
		fmt.Fprintf(c.w, "- %s: not checked (%s)\n", step, why)
	}
}

// finish prints the verdict (or the whole JSON report) and returns the
// exit status: 0 only if every step passed.
func (c *checker) finish() int {
	if c.json {
		b, _ := json.Marshal(struct {
			OK    bool        `json:"ok"`
			Steps []checkStep `json:"steps"`
		}{!c.failed, c.steps})
		fmt.Fprintf(c.w, "%s\n", b)
	} else if c.failed {
		fmt.Fprintln(c.w, "preflight failed")
	} else {
		fmt.Fprintln(c.w, "preflight passed")
	}
	if c.failed {
		return exitFailure
	}
	return exitOK
}

// runCheck is the preflight a person runs before the first agent run,
// with the same settings as serve. It exits 0 only if every step passes.
func runCheck(ctx context.Context, cfg *config.Config, b Build, getenv func(string) string, stdout, _ io.Writer) int {
	c := &checker{w: stdout, json: cfg.CheckJSON}
	c.pass("settings valid")
	if _, err := loadRules(cfg.RoutesFile); err != nil {
		c.fail("routes file", err.Error(), "fix the lines named above; each is \"METHOD REGEX\"")
	}
	checkUpstream(ctx, c, cfg, b)
	sshOK := true
	if cfg.SSH.Host != "" && (cfg.Mode() == config.ModeSSH || cfg.Queue.Runner == "ssh") {
		sshOK = checkSSH(ctx, c, cfg, getenv, cfg.Mode() == config.ModeSSH)
	}
	if cfg.Mode() == config.ModeQueue {
		if sshOK {
			checkQueue(ctx, c, cfg, getenv)
		} else {
			c.skip(fmt.Sprintf("queue dir writable through the %s runner", cfg.Queue.Runner), "SSH failed")
		}
	}
	return c.finish()
}

// checkUpstream calls GET /api/agents/me with the run token, as an agent's
// first call would be forwarded.
func checkUpstream(ctx context.Context, c *checker, cfg *config.Config, b Build) {
	const reach, accept = "upstream reachable", "run token accepted (GET /api/agents/me)"
	ctx, cancel := context.WithTimeout(ctx, min(cfg.UpstreamTimeout, checkTimeout))
	defer cancel()
	u := *cfg.Upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/agents/me"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		c.fail(reach, err.Error(), "check --upstream")
		return
	}
	req.Header.Set("Authorization", "Bearer "+cfg.RunToken.Reveal())
	req.Header.Set("X-Paperclip-Run-Id", cfg.RunID)
	req.Header.Set("User-Agent", "clipbridge/"+b.Version)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // drop the URL, which the user already knows
		}
		c.fail(reach, fmt.Sprintf("%s: %v", cfg.Upstream.Redacted(), err),
			"check --upstream/CLIPBRIDGE_UPSTREAM and that the Paperclip server listens there and is reachable from this host")
		c.skip(accept, "upstream unreachable")
		return
	}
	resp.Body.Close()
	c.pass(reach)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		c.pass(accept)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		c.fail(accept, fmt.Sprintf("upstream answered %s", resp.Status),
			"the run token is wrong or expired, or does not belong to --run-id: check CLIPBRIDGE_RUN_TOKEN / --run-token-file and --run-id")
	default:
		c.fail(accept, fmt.Sprintf("upstream answered %s", resp.Status),
			"check that --upstream is the Paperclip API's base URL (a path prefix is kept; /api/agents/me is appended)")
	}
}

// checkSSH walks the SSH connection step by step, down to binding the
// remote port the agent's URL will use.
func checkSSH(ctx context.Context, c *checker, cfg *config.Config, getenv func(string) string, forward bool) (ok bool) {
	const reach, hostKey, auth, fwd, bind = "SSH reachable", "SSH host key trusted", "SSH authentication accepted",
		"SSH forwarding permitted", "remote port bindable"
	steps := []string{reach, hostKey, auth}
	if forward {
		steps = append(steps, fwd, bind)
	}
	skipFrom := func(i int, why string) {
		for _, s := range steps[i:] {
			c.skip(s, why)
		}
	}
	opts := sshOptions(cfg, getenv, discardLogger())
	dctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	conn, err := sshconn.Dial(dctx, opts)
	if err != nil {
		detail := err.Error()
		switch sshconn.KindOf(err) {
		case sshconn.KindUnreachable, sshconn.KindHandshake:
			c.fail(reach, detail, "check --ssh-host/--ssh-port and that sshd runs there and is reachable from this host")
			skipFrom(1, "not reachable")
		case sshconn.KindHostKeyUnknown:
			c.pass(reach)
			c.fail(hostKey, detail, "verify the fingerprint out of band, then add the host's key to --ssh-known-hosts or CLIPBRIDGE_SSH_KNOWN_HOSTS")
			skipFrom(2, "host key not trusted")
		case sshconn.KindHostKeyChanged:
			c.pass(reach)
			c.fail(hostKey, detail, "if the host was really re-keyed, replace its line in known_hosts; otherwise do not connect")
			skipFrom(2, "host key not trusted")
		case sshconn.KindAuth:
			c.pass(reach)
			c.pass(hostKey)
			c.fail(auth, detail, "check --ssh-user and the key (--ssh-key-file, CLIPBRIDGE_SSH_KEY, ssh-agent) against the host's authorized_keys")
			skipFrom(3, "not logged in")
		default:
			c.fail("SSH settings usable", detail, "fix the SSH setting named above")
			skipFrom(0, "ssh settings unusable")
		}
		return false
	}
	defer conn.Close()
	c.pass(reach)
	c.pass(hostKey)
	c.pass(auth)
	if !forward {
		return true
	}
	want, _ := netip.ParseAddrPort(cfg.SSH.RemoteListen)
	if listenAndClose(conn, want) == nil {
		c.pass(fwd)
		c.pass(bind)
		return true
	}
	if want.Port() != 0 && listenAndClose(conn, netip.AddrPortFrom(want.Addr(), 0)) == nil {
		c.pass(fwd)
		c.fail(bind, fmt.Sprintf("%s is in use on the execution host", want),
			"free the port there (`ss -ltnp` shows who holds it; an earlier clipbridge session sshd has not reaped yet clears itself), or choose another --remote-listen")
		return false
	}
	c.fail(fwd, fmt.Sprintf("sshd refused to listen on %s", want),
		"allow remote forwarding for this user: AllowTcpForwarding yes|remote, no DisableForwarding, PermitListen covering the address, and no restrict/no-port-forwarding on the key in authorized_keys")
	c.skip(bind, "forwarding refused")
	return false
}

func listenAndClose(conn *sshconn.Conn, addr netip.AddrPort) error {
	ln, err := conn.Client().Listen("tcp", addr.String())
	if err != nil {
		return err
	}
	return ln.Close()
}

// checkQueue proves the queue directory can be created and written
// through the runner serve would use.
func checkQueue(ctx context.Context, c *checker, cfg *config.Config, getenv func(string) string) {
	step := fmt.Sprintf("queue dir writable through the %s runner", cfg.Queue.Runner)
	rn, closeRunner, err := newRunner(cfg, prometheus.NewRegistry(), getenv, discardLogger())
	if err != nil {
		c.fail(step, err.Error(), "fix the runner settings")
		return
	}
	defer closeRunner()
	res, err := rn.Run(ctx, runner.Command{
		Script: `set -e; mkdir -p "$Q/requests" "$Q/responses"; probe="$Q/requests/.clipbridge-check.$$"; ` +
			`printf ok > "$probe"; mv "$probe" "$probe.json.tmp"; rm -f "$probe.json.tmp"`,
		Env:     map[string]string{"Q": cfg.Queue.Dir},
		Timeout: checkTimeout,
	})
	if err == nil {
		err = res.Err("write to " + cfg.Queue.Dir)
	}
	if err != nil {
		c.fail(step, err.Error(), "create the directory on the execution host with write access for the runner's user, or choose another --queue-dir")
		return
	}
	c.pass(step)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
