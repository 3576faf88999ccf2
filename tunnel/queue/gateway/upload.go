package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/clipbridge/clipbridge/runner"
)

// ErrUploadMismatch reports a binary whose bytes on the execution host do not hash to what was sent.
var ErrUploadMismatch = errors.New("gateway binary upload sha mismatch")

// hashScript prints the sha256 of $CB_DST as `:hash <hex>`, or `:missing`, or `:nohash` when the
// host has no sha256 tool. It never reads stdin.
const hashScript = `cb_sha() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 "$1" | sed 's/.*= *//'
  else return 1; fi
}
if [ ! -f "$CB_DST" ]; then echo ":missing"; exit 0; fi
if h=$(cb_sha "$CB_DST") && [ -n "$h" ]; then echo ":hash $h"; else echo ":nohash"; fi
`

// uploadScript receives the binary on stdin into a temp file beside the destination, checks its
// size and (where a tool exists) its sha256, and only then renames it into place, so the
// destination is never a torn file. A pid-file mkdir lock keeps two uploads apart.
const uploadScript = `cb_sha() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 "$1" | sed 's/.*= *//'
  else return 1; fi
}
mkdir -p "$(dirname "$CB_DST")" || exit 1
cb_l="$CB_DST.upload.lock"; cb_t="$CB_DST.$$.partial"; cb_i=0
while ! mkdir "$cb_l" 2>/dev/null; do
  cb_p=$(cat "$cb_l/pid" 2>/dev/null)
  if [ -n "$cb_p" ] && ! kill -0 "$cb_p" 2>/dev/null; then rm -rf "$cb_l"; continue; fi
  cb_i=$((cb_i + 1)); [ "$cb_i" -ge 600 ] && { echo "Timed out acquiring gateway upload lock." >&2; exit 1; }
  sleep 0.05 2>/dev/null || sleep 1
done
echo $$ > "$cb_l/pid"
trap 'rm -f "$cb_t"; rm -rf "$cb_l"' EXIT
cat > "$cb_t" || exit 1
if [ "$(($(wc -c < "$cb_t")))" -ne "$CB_SIZE" ]; then echo "gateway binary upload sha mismatch (size)" >&2; exit 3; fi
if h=$(cb_sha "$cb_t") && [ -n "$h" ]; then
  if [ "$h" != "$CB_SHA" ]; then echo "gateway binary upload sha mismatch" >&2; exit 3; fi
else
  echo "gateway binary sha verify skipped: no sha256sum/shasum/openssl on the execution host" >&2
fi
chmod 755 "$cb_t" && mv -f "$cb_t" "$CB_DST" || exit 1
echo ":uploaded"
`

// defaultRemoteBinary is where Launch puts the binary for a queue dir: beside Paperclip's
// own gateway asset, <parent of queueDir>/server/clipbridge.
func defaultRemoteBinary(queueDir string) string {
	return path.Join(path.Dir(path.Clean(queueDir)), "server", "clipbridge")
}

// fileSHA256 hashes a local file.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// SyncBinary makes dst on the execution host a copy of the local file src: skipped (false) when
// the sha256 already matches, otherwise uploaded through one exec with the bytes on stdin, into a
// temp file that is size- and sha256-checked before it is renamed into place. Launch uses
// it; call it directly to give worker.Options.AgentBinary a binary without starting a gateway.
// timeout bounds each of its two execs.
func SyncBinary(ctx context.Context, r runner.Runner, src, dst string, timeout time.Duration) (bool, error) {
	sum, size, err := fileSHA256(src)
	if err != nil {
		return false, fmt.Errorf("hash gateway binary: %w", err)
	}
	env := map[string]string{"CB_DST": dst, "PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge"}
	res, err := r.Run(ctx, runner.Command{Script: hashScript, Env: env, Timeout: timeout})
	if err == nil {
		err = res.Err("hash gateway binary")
	}
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(res.Stdout)) == ":hash "+sum {
		return false, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return true, uploadBinary(ctx, r, f, size, sum, dst, timeout)
}

// uploadBinary sends data (size bytes, sha256 sum) to dst through the runner.
func uploadBinary(ctx context.Context, r runner.Runner, data io.Reader, size int64, sum, dst string, timeout time.Duration) error {
	res, err := r.Run(ctx, runner.Command{
		Script: uploadScript,
		Env: map[string]string{"CB_DST": dst, "CB_SIZE": strconv.FormatInt(size, 10), "CB_SHA": sum,
			"PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge"},
		Stdin:   data,
		Timeout: timeout,
	})
	if err != nil {
		return fmt.Errorf("upload gateway binary: %w", err)
	}
	if res.ExitCode == 3 {
		return fmt.Errorf("%w: %s", ErrUploadMismatch, bytes.TrimSpace(res.Stderr))
	}
	if err := res.Err("upload gateway binary"); err != nil {
		return err
	}
	if !bytes.Contains(res.Stdout, []byte(":uploaded")) {
		return fmt.Errorf("upload gateway binary: unexpected output %q", bytes.TrimSpace(res.Stdout))
	}
	return nil
}
