package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// A one-shot runner (the relay, an exec prefix that cannot stream) cannot hold the gateway's
// stdin open, so the gateway runs detached: one exec starts it in the background, in a session
// of its own (so the end of that exec, or its process group, takes nothing with it) and with
// its output away from the exec's, then waits for its ready.json and prints it. Its environment
// reaches it through the runner's stdin like every other command's. Stop is one more exec; and
// should the host side die without one, the gateway ends itself once the worker's lease
// (queue.EnvLeaseMS) runs out.

// detachedPollMS is how often the start script looks for ready.json.
const detachedPollMS = 50

// detachedScript starts the gateway and prints its ready.json once it names the gateway's pid.
// The gateway's stderr goes to gateway.log beside the binary, for whoever debugs the sandbox.
const detachedScript = `cb_log="$(dirname "$CB_BIN")/gateway.log"
if command -v setsid >/dev/null 2>&1; then
  setsid "$CB_BIN" gateway </dev/null >/dev/null 2>"$cb_log" &
else
  nohup "$CB_BIN" gateway </dev/null >/dev/null 2>"$cb_log" &
fi
cb_pid=$!
cb_r="$PAPERCLIP_BRIDGE_QUEUE_DIR/ready.json"
cb_i=0
while [ "$cb_i" -lt "$CB_TRIES" ]; do
  if [ -f "$cb_r" ] && [ ! -L "$cb_r" ]; then
    cb_j=$(head -c 4096 "$cb_r" 2>/dev/null)
    case $cb_j in *"\"pid\":$cb_pid,"*) printf '%s\n' "$cb_j"; exit 0 ;; esac
  fi
  if ! kill -0 "$cb_pid" 2>/dev/null; then
    echo "gateway exited before it was ready" >&2; tail -c 2048 "$cb_log" >&2 2>/dev/null; exit 1
  fi
  sleep 0.05 2>/dev/null || sleep 1
  cb_i=$((cb_i + 1))
done
kill "$cb_pid" 2>/dev/null
echo "gateway wrote no ready.json in time" >&2
exit 1
`

// stopScript ends the detached gateway, if CB_PID is still a clipbridge gateway (where /proc
// can tell, so a reused pid is left alone): SIGTERM, which lets it finish its answers and
// remove ready.json, then SIGKILL if it is still there after gatewayStopGrace.
const stopScript = `if [ -r "/proc/$CB_PID/cmdline" ]; then
  case $(tr '\0' ' ' < "/proc/$CB_PID/cmdline") in *" gateway "*) ;; *) exit 0 ;; esac
fi
kill "$CB_PID" 2>/dev/null || exit 0
cb_i=0
while kill -0 "$CB_PID" 2>/dev/null; do
  # A zombie (a parent that does not reap, as some containers' init) has exited already.
  case $(cat "/proc/$CB_PID/stat" 2>/dev/null) in *") Z "*) exit 0 ;; esac
  cb_i=$((cb_i + 1))
  if [ "$cb_i" -gt "$CB_TRIES" ]; then kill -9 "$CB_PID" 2>/dev/null; exit 0; fi
  sleep 0.05 2>/dev/null || sleep 1
done
exit 0
`

// startDetached starts the gateway in the background on the execution host and reads its
// ready.json.
func (g *Launched) startDetached(ctx context.Context, port int) error {
	env := g.env(port)
	delete(env, queue.EnvExitOnStdinEOF) // its stdin is /dev/null: it would exit at once
	lease := g.o.Lease
	if lease <= 0 {
		lease = defaultLease
	}
	env[queue.EnvLeaseMS] = strconv.FormatInt(lease.Milliseconds(), 10)
	env["CB_TRIES"] = strconv.FormatInt(max(g.o.ReadyTimeout.Milliseconds()/detachedPollMS, 1), 10)
	res, err := g.o.Runner.Run(ctx, runner.Command{Script: detachedScript, Env: env, Timeout: g.o.ReadyTimeout + g.o.OpTimeout})
	if err == nil {
		err = res.Err("start gateway")
	}
	if err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	out := strings.TrimSpace(string(res.Stdout))
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var ready ReadyInfo
	if err := json.Unmarshal([]byte(out), &ready); err != nil || ready.Port == 0 || ready.PID == 0 {
		return fmt.Errorf("gateway wrote invalid readiness JSON")
	}
	g.mu.Lock()
	g.ready = ready
	g.mu.Unlock()
	g.log.Info("gateway started", "base_url", ready.BaseURL, "pid", ready.PID, "detached", true)
	return nil
}

// stopDetached ends the detached gateway with one exec; it exits and removes ready.json.
func (g *Launched) stopDetached() {
	g.mu.Lock()
	pid := g.ready.PID
	g.ready.PID = 0
	g.mu.Unlock()
	if pid == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.o.OpTimeout+gatewayStopGrace)
	defer cancel()
	res, err := g.o.Runner.Run(ctx, runner.Command{Script: stopScript, Timeout: g.o.OpTimeout + gatewayStopGrace,
		Env: map[string]string{"CB_PID": strconv.Itoa(pid), "PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge",
			"CB_TRIES": strconv.FormatInt(gatewayStopGrace.Milliseconds()/detachedPollMS, 10)}})
	if err == nil {
		err = res.Err("stop gateway")
	}
	if err != nil {
		g.log.Warn("gateway stop failed", "pid", pid, "error", err)
		return
	}
	g.log.Info("gateway stopped", "pid", pid)
}
