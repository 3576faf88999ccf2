#!/usr/bin/env bash
# ab-cpu.sh: CPU per request of servers already running on loopback, side
# by side. For each round and each port in turn it runs wrk against
# http://127.0.0.1:PORT$AB_PATH for AB_DURATION with AB_CONNS connections,
# and prints requests/s and the user and system CPU per request of the
# processes listening on that port (from /proc/<pid>/stat, summed).
#
#   bench/ab-cpu.sh ROUNDS PORT [PORT...]
#
# Environment: AB_AUTH (Authorization header value), AB_PATH (default
# /api/agents/me), AB_CONNS (64), AB_DURATION (3s). Needs wrk and ss.
# Used for the A/B figures in BENCHMARKS.md ("What changed"): start the
# two builds on two ports against the same upstream and compare medians.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 ROUNDS PORT [PORT...]" >&2
  exit 2
fi
rounds=$1
shift
path=${AB_PATH:-/api/agents/me}
conns=${AB_CONNS:-64}
duration=${AB_DURATION:-3s}
hz=$(getconf CLK_TCK)

pids_on() {
  ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# ticks PID...: user and system clock ticks summed over the processes.
ticks() {
  local u=0 s=0 ut st
  for p in "$@"; do
    read -r ut st < <(awk '{print $14, $15}' "/proc/$p/stat")
    u=$((u + ut))
    s=$((s + st))
  done
  echo "$u $s"
}

for r in $(seq "$rounds"); do
  for port in "$@"; do
    mapfile -t pids < <(pids_on "$port")
    if [ ${#pids[@]} -eq 0 ]; then
      echo "nothing listens on 127.0.0.1:$port" >&2
      exit 1
    fi
    read -r u0 s0 < <(ticks "${pids[@]}")
    out=$(wrk -t2 -c"$conns" -d"$duration" ${AB_AUTH:+-H "Authorization: $AB_AUTH"} "http://127.0.0.1:$port$path")
    read -r u1 s1 < <(ticks "${pids[@]}")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print int($2)}' <<<"$out")
    echo "round $r port $port req/s $rps user_us/req $(( (u1 - u0) * 1000000 / hz / n )) sys_us/req $(( (s1 - s0) * 1000000 / hz / n ))"
  done
done
