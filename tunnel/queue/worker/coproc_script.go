package worker

// The shell co-process: the co-process protocol (see tunnel/queue's coproc.go) served by one
// long-lived POSIX shell on the execution host, for hosts without the clipbridge binary. Under
// bash, W sleeps with `read -t` on stdin, so it costs no fork per poll and the host can end it at
// once by sending an empty line; other shells poll with `sleep`. Its status codes are the
// queue.Coproc* numbers, written here as literals.

// coprocLauncher is the script the runner starts: it re-executes the co-process under bash when
// bash exists (for the fork-free wakeable wait), else evaluates it in sh. CB_SCRIPT arrives in
// the environment, through stdin, like every other value.
const coprocLauncher = `if [ -z "${BASH_VERSION:-}" ] && [ -z "${CB_NO_BASH:-}" ] && command -v bash >/dev/null 2>&1; then exec bash -c "$CB_SCRIPT"; fi
eval "$CB_SCRIPT"
`

// The queue directory is the sandbox's, so the scripts treat it as hostile (issue 10,
// finding 2) as far as POSIX sh can:
//   - requests/, responses/ or logs/ replaced by a link is refused (`[ -L ]`) before every
//     command that uses them, with status 7 naming the path;
//   - only regular files that are not links are listed or read, so a FIFO never blocks a read
//     and a link never leads outside; where the shell can name its descriptors (/dev/fd), the
//     opened file must still be the file that was checked;
//   - the response temp file is removed if it exists (rm removes a link, not its target) and
//     created under noclobber (`set -C`: O_EXCL, which does not follow a link);
//   - a link or file in place of a lock directory is never a lock and is removed; a pid file is
//     read only if it is a small regular file.
// sh has no O_NOFOLLOW or O_NONBLOCK, so each check and the operation after it are separate
// steps: an entry swapped in that instant can still redirect one operation (a FIFO swapped in
// makes it block until the worker's operation timeout kills the co-process). Where the
// co-process and the agent run as the same user, as they do over ssh and exec runners, the
// agent could reach those files itself anyway; the Go queue-agent, with os.Root, has no such
// window and is used whenever the clipbridge binary is on the execution host.

// putScriptCommon is the response write of Paperclip's worker: a mkdir mutex holding a pid file
// (a dead holder's lock is broken), the request-path guard, an existing response left alone, and
// .tmp + mv. cb_recv reads the payload into $2 (or discards it to /dev/null) and must consume
// exactly the payload; it is defined by the caller. cb_safe and cb_pid are shared with the
// co-process.
const putScriptCommon = `
cb_safe() {
  for cb_d in "$@"; do
    if [ -L "$cb_d" ]; then cb_why="$CB_Q/$cb_d is a symlink; refusing to follow it"; return 1; fi
  done
  return 0
}
cb_pid() {
  cb_p=
  [ -f "$1/pid" ] && [ ! -L "$1/pid" ] && cb_p=$(dd bs=32 count=1 < "$1/pid" 2>/dev/null)
  case $cb_p in *[!0-9]*) cb_p= ;; esac
}
cb_put() {
  cb_r="responses/$1"; cb_l="$cb_r.paperclip-write.lock"; cb_t="$cb_r.tmp"; cb_i=0; cb_rm=
  if ! cb_safe responses requests; then
    cb_recv "$4" /dev/null || exit 1
    echo ":7 $cb_why"; return
  fi
  while ! mkdir "$cb_l" 2>/dev/null; do
    cb_i=$((cb_i + 1))
    if [ "$cb_i" -gt 600 ]; then
      cb_recv "$4" /dev/null || exit 1
      echo ":4 Timed out acquiring sandbox callback bridge response lock."; return
    fi
    if [ ! -d responses ]; then mkdir -p responses requests; continue; fi
    if [ -L "$cb_l" ] || [ ! -d "$cb_l" ]; then rm -f "$cb_l"; continue; fi
    cb_pid "$cb_l"
    if [ -n "$cb_p" ] && ! kill -0 "$cb_p" 2>/dev/null; then rm -rf "$cb_l"; continue; fi
    sleep 0.05 2>/dev/null || sleep 1
  done
  set -C; { echo $$ > "$cb_l/pid"; } 2>/dev/null; set +C
  if [ "$2" = 1 ] && [ ! -e "requests/$1" ] && [ ! -L "requests/$1" ]; then cb_w=gone
  elif [ -e "$cb_r" ] || [ -L "$cb_r" ]; then cb_w=exists
  else cb_w=wrote; fi
  if [ "$cb_w" = wrote ]; then
    rm -f "$cb_t" 2>/dev/null; set -C; cb_recv "$4" "$cb_t" 2>/dev/null || cb_w=torn; set +C
  else
    cb_recv "$4" /dev/null || cb_w=torn
  fi
  if [ "$cb_w" = torn ]; then rm -rf "$cb_t" "$cb_l"; echo ":6 torn response payload"; exit 1; fi
  if [ "$cb_w" = wrote ] && { [ -L "$cb_t" ] || ! mv -f "$cb_t" "$cb_r"; }; then cb_w=failed; rm -f "$cb_t"; fi
  [ "$3" = 1 ] && [ "$cb_w" != failed ] && [ ! -L requests ] && cb_rm="requests/$1"
  rm -rf "$cb_l" $cb_rm
  if [ "$cb_w" = failed ]; then echo ":5 write bridge response $cb_r failed"; else echo ":0 $cb_w"; fi
}
`

// coprocFuncs are the co-process's operations, shared by the long-lived script and the one-shot
// one (once_script.go).
const coprocFuncs = `cb_readn() { if [ "$cb_gnu" = 1 ]; then head -c "$1"; else dd bs=1 count="$1" 2>/dev/null; fi; }
cb_recv() {
  if [ "$cb_rt" = 1 ] && [ "$cb_text" = t ] && [ "$1" -le 65536 ]; then
    # bash: read the counted payload with a builtin (no fork); LC_ALL=C makes -N count bytes.
    # Only for payloads the host marked NUL-free (t): bash's read drops NUL bytes.
    cb_data=; [ "$1" = 0 ] || IFS= read -r -N "$1" cb_data || return 1
    printf '%s' "$cb_data" > "$2" || return 1
  else
    cb_readn "$1" > "$2" || return 1
  fi
  IFS= read -r cb_ok && [ "$cb_ok" = end ]
}
cb_req() { [ -f "$1" ] && [ ! -L "$1" ]; }
cb_any() {
  for cb_f in requests/*.json; do
    cb_req "$cb_f" || continue
    cb_n=${cb_f#requests/}
    case $cb_n in .*|*[!A-Za-z0-9._-]*) continue;; esac
    case " $cb_skip " in *" $cb_n "*) continue;; esac
    return 0
  done
  return 1
}
cb_list() {
  for cb_f in requests/*.json; do
    cb_req "$cb_f" || continue
    cb_n=${cb_f#requests/}
    case $cb_n in .*|*[!A-Za-z0-9._-]*) continue;; esac
    printf 'N %s\n' "$cb_n"
  done
}
cb_wait() {
  # The queue was removed or moved away: exit, and the host's restart recreates it.
  [ -d "$cb_abs/requests" ] || exit 3
  cb_safe requests responses || { echo ":7 $cb_why"; return; }
  cb_ms=$1; shift; cb_skip="$*"
  if [ "$cb_ms" -gt 0 ] && ! cb_any; then
    if [ "$cb_rt" = 1 ]; then
      cb_i=$((cb_ms / CB_POLL_MS + 1))
      while [ "$cb_i" -gt 0 ]; do
        IFS= read -r -t "$CB_POLL_S" cb_wake; cb_rc=$?
        [ "$cb_rc" = 0 ] && break
        [ "$cb_rc" -le 128 ] && exit 0
        cb_any && break
        cb_i=$((cb_i - 1))
      done
    else
      cb_i=$((cb_ms / cb_sm + 1))
      while [ "$cb_i" -gt 0 ]; do
        sleep "$cb_ss"
        cb_any && break
        cb_i=$((cb_i - 1))
      done
    fi
  fi
  cb_safe requests responses || { echo ":7 $cb_why"; return; }
  cb_list
  echo ":0"
}
cb_read() {
  cb_f="requests/$1"
  cb_safe requests || { echo ":7 $cb_why"; return; }
  if ! cb_req "$cb_f" || ! command exec 3< "$cb_f"; then echo ":2 missing"; return; fi
  if [ "$cb_fd" = 1 ] && { [ -L "$cb_f" ] || [ ! -f /dev/fd/3 ] || ! [ "$cb_f" -ef /dev/fd/3 ]; }; then
    exec 3<&-; echo ":2 missing"; return
  fi
  # Not bash's read: it drops NUL bytes, and the worker must judge the exact file.
  head -c "$2" <&3 | base64
  exec 3<&-
  echo ":0"
}
cb_sweep() {
  cb_safe responses || { echo ":7 $cb_why"; return; }
  for cb_l in responses/*.paperclip-write.lock; do
    [ -e "$cb_l" ] || [ -L "$cb_l" ] || continue
    if [ -L "$cb_l" ] || [ ! -d "$cb_l" ]; then rm -f "$cb_l"; continue; fi
    cb_pid "$cb_l"
    if [ -n "$cb_p" ] && [ "$cb_p" != $$ ] && ! kill -0 "$cb_p" 2>/dev/null; then rm -rf "$cb_l"; fi
  done
  for cb_t in responses/*.json.tmp; do
    [ -e "$cb_t" ] || [ -L "$cb_t" ] || continue
    cb_l=${cb_t%.tmp}.paperclip-write.lock
    { [ -d "$cb_l" ] && [ ! -L "$cb_l" ]; } || rm -f "$cb_t"
  done
  echo ":0"
}
`

// coprocPrepare makes and checks the queue directory, learns what the shell can do, and says
// hello (see tunnel/queue's coproc.go); it ends the script when the queue cannot be used.
const coprocPrepare = `cb_fail() { echo ":9 cannot prepare queue directory $CB_Q: $1"; exit 1; }
mkdir -p "$CB_Q" || cb_fail "mkdir failed"
[ -L "${CB_Q%/}" ] && cb_fail "it is a symlink; refusing to follow it"
cd "$CB_Q" || cb_fail "cd failed"
cb_safe requests responses logs || cb_fail "$cb_why"
mkdir -p requests responses logs || cb_fail "mkdir failed"
cb_safe requests responses logs || cb_fail "$cb_why"
command -v base64 >/dev/null 2>&1 || { echo ":9 base64 is not installed on the execution host"; exit 1; }
cb_abs=$(pwd)
cb_rt=0; [ -n "${BASH_VERSION:-}" ] && cb_rt=1 && export LC_ALL=C
cb_gnu=0; case $(head --version 2>/dev/null) in *GNU*) cb_gnu=1;; esac
[ -n "${CB_NO_GNU_HEAD:-}" ] && cb_gnu=0
cb_ss=$CB_SLEEP_S; cb_sm=$CB_SLEEP_MS; sleep 0.001 2>/dev/null || { cb_ss=1; cb_sm=1000; }
# cb_fd: the shell can check what fd 3 really is through /dev/fd (see cb_read).
cb_fd=0; exec 3</dev/null; [ /dev/null -ef /dev/fd/3 ] 2>/dev/null && cb_fd=1; exec 3<&-
printf ':0 hello %s %s %s\n' "$cb_rt" "$cb_gnu" "$(date +%s)"
`

// coprocScript is the co-process body (CB_SCRIPT). CB_Q is the queue dir; CB_POLL_MS/CB_POLL_S
// the bash wait tick; CB_SLEEP_MS/CB_SLEEP_S the sh polling interval.
const coprocScript = coprocFuncs + putScriptCommon + coprocPrepare + `while IFS= read -r cb_line; do
  set -f; set -- $cb_line; set +f
  case ${1:-} in
    W) shift; cb_wait "$@" ;;
    R) cb_read "$2" "$3" ;;
    P) cb_text=${6:-b}; cb_put "$2" "$3" "$4" "$5" ;;
    D) if cb_safe requests; then rm -f "requests/$2"; echo ":0"; else echo ":7 $cb_why"; fi ;;
    S) cb_sweep ;;
    '') ;;
    *) echo ":9 unknown command" ;;
  esac
done
`

// putExecScript writes one response in its own exec, with the payload as the whole of stdin. The
// worker uses it for large responses when the co-process cannot read a counted payload quickly
// (no GNU head). Arguments arrive in CB_Q, CB_NAME, CB_GUARD, CB_REMOVE and CB_LEN.
const putExecScript = `{ [ ! -L "${CB_Q%/}" ] && cd "$CB_Q"; } || { echo ":9 cannot use queue directory $CB_Q"; exit 1; }
cb_recv() { if [ "$2" = /dev/null ]; then cat >/dev/null; else cat > "$2" && [ "$(($(wc -c < "$2")))" -eq "$1" ]; fi; }
` + putScriptCommon + `
cb_put "$CB_NAME" "$CB_GUARD" "$CB_REMOVE" "$CB_LEN"
`
