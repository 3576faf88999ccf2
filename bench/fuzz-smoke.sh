#!/usr/bin/env bash
# fuzz-smoke.sh: run every native fuzz target (func FuzzXxx) in the module
# for a short while each, FUZZTIME (default 10s), one target at a time.
#
#   bench/fuzz-smoke.sh              # every package (./...)
#   FUZZTIME=30s bench/fuzz-smoke.sh ./proxy/...
#
# Targets are discovered with `go test -list`, so new ones are picked up
# without editing this script. When a target finds a failing input, `go
# test` has already saved it under <package>/testdata/fuzz/<FuzzXxx>/:
# fix the bug and commit that file, which makes it a regression seed that
# every plain `go test` run replays. Exits 1 if any target failed.
#
# Go 1.26's fuzz coordinator has a known race (golang/go#75804, fixed in
# Go 1.27): when -fuzztime expires while a worker is mid-call, the target
# FAILs with a bare "context deadline exceeded" although nothing was
# found. A real finding always writes a reproducer and says "Failing input
# written to"; a bare deadline failure with no new corpus file is the
# race, so that target is run again, at most twice. Anything else that
# fails is a failure.
set -euo pipefail

# deadline_flake LOG: true when LOG is exactly the upstream race: the
# deadline message, and no reproducer, panic or test error besides it.
deadline_flake() {
  local log=$1
  grep -q '^    context deadline exceeded$' "$log" || return 1
  if grep -qE 'Failing input written|^panic:|fuzzing process hung|_test\.go:[0-9]+:' "$log"; then
    return 1
  fi
  # Every indented message under --- FAIL must be the deadline line.
  ! awk '/^--- FAIL/ {f=1; next} f && /^    / && $0 != "    context deadline exceeded" {bad=1} END {exit !bad}' "$log"
}

# corpus_count DIR: files in a target's saved-input directory (0 if none).
corpus_count() {
  if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi
}

# Sourcing with FUZZ_SMOKE_LIB=1 defines the functions only (for tests).
if [ "${FUZZ_SMOKE_LIB:-}" = 1 ]; then return 0; fi

cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
if [ $# -eq 0 ]; then set -- ./...; fi

# `go test -list` prints the matching names of a package, then its "ok"
# line naming the package. A package that does not build cannot be
# fuzzed: that fails the smoke test rather than skipping its targets.
if ! listing=$(go test -list '^Fuzz' "$@"); then
  echo "fuzz-smoke: go test -list failed (see above)" >&2
  exit 1
fi
targets=()
pending=()
while IFS= read -r line; do
  case "$line" in
    Fuzz*) pending+=("$line") ;;
    ok*)
      pkg=$(awk '{print $2}' <<<"$line")
      for f in ${pending[@]+"${pending[@]}"}; do targets+=("$pkg $f"); done
      pending=()
      ;;
  esac
done <<<"$listing"

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz-smoke: no fuzz targets found" >&2
  exit 1
fi
echo "fuzz-smoke: ${#targets[@]} targets, ${fuzztime} each"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
flaked=0
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  dir=$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name
  for attempt in 1 2 3; do
    if [ "$attempt" -eq 1 ]; then echo "--- ${name} (${pkg})"; else echo "--- ${name} (${pkg}) again"; fi
    before=$(corpus_count "$dir")
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
      break
    fi
    if [ "$attempt" -lt 3 ] && [ "$(corpus_count "$dir")" -eq "$before" ] && deadline_flake "$log"; then
      echo "fuzz-smoke: ${name}: bare deadline failure, no input saved (golang/go#75804); running it again"
      flaked=$((flaked + 1))
      continue
    fi
    failed+=("$name ($pkg)")
    break
  done
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: ${#failed[@]} target(s) failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  echo "new failing inputs are under <package>/testdata/fuzz/<target>/: commit them with the fix" >&2
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${fuzztime} without a failure (${flaked} re-run after the upstream deadline race)"
