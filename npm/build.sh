#!/usr/bin/env bash
# Builds clipbridge's npm release in one command: cross-compiles the Go binary for each platform
# package (CGO_ENABLED=0, -trimpath, version and commit stamped), fills the packages, compiles
# the TypeScript launcher to ESM plus .d.ts, packs every package with npm pack and writes
# SHA-256 checksums of the binaries and the tarballs.
#
#   npm/build.sh [OUT_DIR]        (default: npm/dist; it is emptied first)
#
# The version comes from one place, npm/clipbridge/package.json: it is stamped into the binaries
# and into every platform package, and the launcher's optionalDependencies must name each
# platform package at exactly that version (checked here, and by go test ./npm).
#
# Environment: CLIPBRIDGE_PLATFORMS narrows the platforms (e.g. "linux-x64", as the tests do);
# CLIPBRIDGE_COMMIT overrides the stamped commit (default: git rev-parse HEAD).
# Needs go, node and npm, and the dev tools (npm ci in npm/) for tsc.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$here/dist}
all="linux-x64 linux-arm64 darwin-x64 darwin-arm64"
platforms=${CLIPBRIDGE_PLATFORMS:-$all}
version=$(node -p 'require(process.argv[1]).version' "$here/clipbridge/package.json")
commit=${CLIPBRIDGE_COMMIT:-$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)}

# The launcher must list every platform package, at exactly this version.
node - "$here/clipbridge/package.json" "$version" $all <<'EOF'
const [file, version, ...platforms] = process.argv.slice(2);
const want = Object.fromEntries(platforms.map((p) => [`@clipbridge/${p}`, version]));
const got = require(file).optionalDependencies ?? {};
if (JSON.stringify(Object.entries(got).sort()) !== JSON.stringify(Object.entries(want).sort())) {
  console.error(`build.sh: ${file} optionalDependencies must be exactly ${JSON.stringify(want)}; got ${JSON.stringify(got)}`);
  process.exit(1);
}
EOF

rm -rf "$out"
mkdir -p "$out/stage/@clipbridge"
out=$(cd "$out" && pwd)

# stamp writes the version into a staged package.json.
stamp() {
  node - "$1" "$version" <<'EOF'
const fs = require("fs");
const [file, version] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
pkg.version = version;
fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
EOF
}

for p in $platforms; do
  case "$p" in
    linux-x64) goos=linux goarch=amd64 ;;
    linux-arm64) goos=linux goarch=arm64 ;;
    darwin-x64) goos=darwin goarch=amd64 ;;
    darwin-arm64) goos=darwin goarch=arm64 ;;
    *) echo "build.sh: unknown platform $p (want some of: $all)" >&2; exit 1 ;;
  esac
  stage="$out/stage/@clipbridge/$p"
  mkdir -p "$stage/bin"
  cp "$here/@clipbridge/$p/package.json" "$stage/"
  stamp "$stage/package.json"
  echo "--- $p: go build (GOOS=$goos GOARCH=$goarch)"
  (cd "$root" && CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath \
    -ldflags "-s -w -X main.version=$version -X main.commit=$commit" \
    -o "$stage/bin/clipbridge" .)
  (cd "$stage" && npm pack --silent --pack-destination "$out" >/dev/null)
done

echo "--- clipbridge: tsc (ESM and .d.ts)"
stage="$out/stage/clipbridge"
mkdir -p "$stage"
cp "$here/clipbridge/package.json" "$here/clipbridge/README.md" "$stage/"
(cd "$here" && node_modules/.bin/tsc -p clipbridge/tsconfig.build.json --outDir "$stage/dist")
(cd "$stage" && npm pack --silent --pack-destination "$out" >/dev/null)

(cd "$out" && sha256sum ./*.tgz >SHA256SUMS)
(cd "$out/stage" && for p in $platforms; do sha256sum "@clipbridge/$p/bin/clipbridge"; done >>"$out/SHA256SUMS")
echo "--- clipbridge $version ($commit) in $out:"
cat "$out/SHA256SUMS"
