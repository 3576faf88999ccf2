package worker

// The one-shot co-process (tunnel/queue's coproc.go, "One-shot mode"): one exec answers a batch
// and then waits for the next request, for runners that cannot stream. It is the long-lived
// script's operations (coprocFuncs) with a main that reads the batch to its end, and L.

// onceLauncher is the script each one-shot exec runs: `queue-agent --once` when the clipbridge
// binary is there (CB_BIN), else the shell script in CB_SCRIPT. Exit status 126 or 127 means
// the binary could not be executed at all, so it read nothing of stdin and the shell takes over.
const onceLauncher = `if [ -n "${CB_BIN:-}" ] && [ -f "$CB_BIN" ]; then
  "$CB_BIN" queue-agent --once; cb_rc=$?
  [ "$cb_rc" -ne 126 ] && [ "$cb_rc" -ne 127 ] && exit "$cb_rc"
fi
eval "$CB_SCRIPT"
`

// onceFuncs: cb_recv reads the one payload, which is the rest of stdin (so `cat`, never a
// byte-at-a-time counted read), and checks its length; cb_look is L. Its wait polls with
// `sleep`, because stdin is at its end and `read -t` would return at once: every CB_SLEEP_S for
// the first second (a sequential agent's next call comes within it), then every CB_IDLE_S.
const onceFuncs = `
cb_recv() { if [ "$2" = /dev/null ]; then cat >/dev/null; else cat > "$2" && [ "$(($(wc -c < "$2")))" -eq "$1" ]; fi; }
cb_look() {
  [ -d "$cb_abs/requests" ] || exit 3
  cb_safe requests responses || { echo ":7 $cb_why"; return; }
  cb_ms=$1; cb_tot=$2; cb_each=$3; shift 3; cb_skip="$*"
  # Renew the lease of a detached gateway (see tunnel/queue's env.go); never through a FIFO.
  [ -p worker.lease ] || touch worker.lease 2>/dev/null
  if [ "$cb_ms" -gt 0 ] && ! cb_any; then
    cb_t=0
    while [ "$cb_t" -lt "$cb_ms" ]; do
      if [ "$cb_t" -lt 1000 ]; then sleep "$cb_ss"; cb_t=$((cb_t + cb_sm)); else sleep "$cb_is"; cb_t=$((cb_t + cb_im)); fi
      cb_any && break
    done
  fi
  cb_safe requests responses || { echo ":7 $cb_why"; return; }
  cb_list
  cb_used=0
  for cb_f in requests/*.json; do
    cb_req "$cb_f" || continue
    cb_n=${cb_f#requests/}
    case $cb_n in .*|*[!A-Za-z0-9._-]*) continue;; esac
    case " $cb_skip " in *" $cb_n "*) continue;; esac
    cb_sz=$(($(wc -c < "$cb_f" 2>/dev/null || echo -1)))
    [ "$cb_sz" -ge 0 ] && [ "$cb_sz" -le "$cb_each" ] && [ $((cb_used + cb_sz)) -le "$cb_tot" ] || continue
    command exec 3< "$cb_f" 2>/dev/null || continue
    if [ "$cb_fd" = 1 ] && { [ -L "$cb_f" ] || [ ! -f /dev/fd/3 ] || ! [ "$cb_f" -ef /dev/fd/3 ]; }; then exec 3<&-; continue; fi
    echo "C $cb_n"
    head -c "$((cb_each + 1))" <&3 | base64
    exec 3<&-
    cb_used=$((cb_used + cb_sz))
  done
  echo ":0"
}
`

// onceScript is the one-shot co-process body (CB_SCRIPT): the batch on stdin, then the L in
// CB_LOOK.
const onceScript = coprocFuncs + putScriptCommon + onceFuncs + coprocPrepare + `cb_is=$CB_IDLE_S; cb_im=$CB_IDLE_MS; [ "$cb_ss" = 1 ] && { cb_is=1; cb_im=1000; }
while IFS= read -r cb_line; do
  set -f; set -- $cb_line; set +f
  case ${1:-} in
    R) cb_read "$2" "$3" ;;
    P) cb_put "$2" "$3" "$4" "$5"; break ;;
    D) if cb_safe requests; then rm -f "requests/$2"; echo ":0"; else echo ":7 $cb_why"; fi ;;
    S) cb_sweep ;;
    '') ;;
    *) echo ":9 unknown command" ;;
  esac
done
if [ -n "${CB_LOOK:-}" ]; then set -f; set -- $CB_LOOK; set +f; cb_look "$@"; fi
`
