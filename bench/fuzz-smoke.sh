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
set -euo pipefail
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

failed=()
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "--- ${name} (${pkg})"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
    failed+=("$name ($pkg)")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: ${#failed[@]} target(s) failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  echo "new failing inputs are under <package>/testdata/fuzz/<target>/: commit them with the fix" >&2
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${fuzztime} without a failure"
