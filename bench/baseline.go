package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clipbridge/clipbridge/runner"
)

// The baseline worker behaves as Paperclip's E1 host worker does
// (reference §1 step 4, §6.3, §7.2): one runner exec per list, read,
// write and remove; a 100 ms sleep when the list is empty; over SSH, a
// fresh `ssh` process (full handshake) per exec. It forwards with a
// keep-alive HTTP client, like Node's fetch. Simplification: the
// response write is `cat > tmp && mv` without Paperclip's mkdir lock,
// which only makes the baseline faster.

// baselineRoleEnv selects the baseline worker role of this binary.
const baselineRole = "baseline-worker"

// baselineConfig is passed to the role as JSON in the environment (it
// holds the run token, which must not be in argv).
type baselineConfig struct {
	QueueDir string   `json:"queue_dir"`
	Upstream string   `json:"upstream"`
	RunToken string   `json:"run_token"`
	RunID    string   `json:"run_id"`
	Runner   string   `json:"runner"`   // local, exec, ssh or relay
	SSH      []string `json:"ssh_argv"` // ssh client argv up to the login, for the ssh runner
	// RelayDelayMS is added to each exec of the relay runner (see relay.go).
	RelayDelayMS int64 `json:"relay_delay_ms"`
}

const baselineConfigEnv = "CLIPBRIDGE_BENCH_BASELINE"

// runBaselineWorker serves the queue until killed, printing "execs <n>"
// on stdout after every exec so the harness can count them.
func runBaselineWorker() error {
	var cfg baselineConfig
	if err := json.Unmarshal([]byte(os.Getenv(baselineConfigEnv)), &cfg); err != nil {
		return err
	}
	w := &baselineWorker{cfg: cfg, client: &http.Client{Timeout: 30 * time.Second}}
	if cfg.Runner == "relay" {
		r, stop, err := startBenchRelay(time.Duration(cfg.RelayDelayMS) * time.Millisecond)
		if err != nil {
			return err
		}
		defer stop()
		w.relay = r
	}
	q := shellQuote(cfg.QueueDir)
	for _, d := range []string{"", "/requests", "/responses", "/logs"} {
		if _, err := w.exec("mkdir -p "+q+d, nil); err != nil {
			return err
		}
	}
	for {
		out, err := w.exec("cd "+q+"/requests && for f in *.json; do [ -f \"$f\" ] && echo \"$f\"; done; true", nil)
		if err != nil {
			return err
		}
		names := strings.Fields(string(out))
		if len(names) == 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		sort.Strings(names)
		for _, n := range names {
			w.handle(q, n)
		}
	}
}

type baselineWorker struct {
	cfg    baselineConfig
	client *http.Client
	execs  atomic.Int64
	relay  *runner.Relay // the relay runner, for Runner "relay"
}

// exec runs one shell command through the configured runner.
func (w *baselineWorker) exec(script string, stdin []byte) ([]byte, error) {
	if w.relay != nil {
		// As Paperclip's worker does through a sandbox runner object: one execute each.
		c := runner.Command{Script: script, Timeout: 30 * time.Second, MaxOutputBytes: 64 << 20}
		if stdin != nil {
			c.Stdin = bytes.NewReader(stdin)
		}
		res, err := w.relay.Run(context.Background(), c)
		fmt.Printf("execs %d\n", w.execs.Add(1))
		if err == nil {
			err = res.Err(script)
		}
		if err != nil {
			return nil, err
		}
		return res.Stdout, nil
	}
	var cmd *exec.Cmd
	switch w.cfg.Runner {
	case "ssh":
		// As Paperclip's runSshCommand: sh -c '<script>' as the remote
		// command of a new ssh client.
		cmd = exec.Command("ssh", append(append([]string{}, w.cfg.SSH...), "sh -c "+shellQuote(script))...)
	case "exec":
		cmd = exec.Command("sh", append(append([]string{}, execPrefix...), "sh", "-c", script)...)
	default:
		cmd = exec.Command("sh", "-c", script)
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.Output()
	fmt.Printf("execs %d\n", w.execs.Add(1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", script, err)
	}
	return out, nil
}

// handle is one request file: read, forward, write the response, remove.
func (w *baselineWorker) handle(q, name string) {
	path := q + "/requests/" + shellQuote(name)
	id := strings.TrimSuffix(name, ".json")
	resp := map[string]any{"id": id, "status": 502, "headers": map[string]string{"content-type": "application/json"}}
	out, err := w.exec("base64 < "+path, nil)
	if err == nil {
		raw, derr := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(out)), ""))
		var req struct {
			ID, Method, Path, Query, Body string
			Headers                       map[string]string
		}
		if derr == nil && json.Unmarshal(raw, &req) == nil {
			if req.ID != "" {
				resp["id"] = req.ID
			}
			status, hdr, body, ferr := w.forward(req.Method, req.Path+req.Query, req.Headers, req.Body)
			if ferr == nil {
				resp["status"], resp["headers"], resp["body"] = status, hdr, body
			} else {
				resp["body"] = `{"error":"` + ferr.Error() + `"}`
			}
		}
	}
	resp["completedAt"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	env, _ := json.Marshal(resp)
	tmp := q + "/responses/" + shellQuote(name+".tmp")
	_, _ = w.exec("cat > "+tmp+" && mv "+tmp+" "+q+"/responses/"+shellQuote(name), append(env, '\n'))
	_, _ = w.exec("rm -f "+path, nil)
}

func (w *baselineWorker) forward(method, target string, headers map[string]string, body string) (int, map[string]string, string, error) {
	if method == "" {
		method = "GET"
	}
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+w.cfg.Upstream+target, rb)
	if err != nil {
		return 0, nil, "", err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+w.cfg.RunToken)
	req.Header.Set("X-Paperclip-Run-Id", w.cfg.RunID)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, "", err
	}
	hdr := map[string]string{}
	for _, k := range []string{"content-type", "etag", "last-modified"} {
		if v := resp.Header.Get(k); v != "" {
			hdr[k] = v
		}
	}
	return resp.StatusCode, hdr, string(b), nil
}

// execPrefix stands in for `docker exec -i CONTAINER` in the exec-runner
// cases: a process that runs its arguments, as a container runtime would,
// without needing one.
var execPrefix = []string{"-c", `exec "$@"`, "sh"}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
