package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/config"
)

// Secrets are config.Secret values; whatever handler New picks, they log
// as REDACTED, as attributes and as pre-attributes.
func TestSecretsRedacted(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			log := New(format, "debug", &b).With("bridge_token", config.NewSecret("bridge-secret"))
			log.Info("started", "run_token", config.NewSecret("real-run-jwt"))
			out := b.String()
			if strings.Contains(out, "real-run-jwt") || strings.Contains(out, "bridge-secret") || strings.Count(out, "REDACTED") != 2 {
				t.Fatalf("log line %q", out)
			}
		})
	}
}

// A JSON line is one object per record, as slog writes it, at the level
// asked for.
func TestJSONLines(t *testing.T) {
	var b bytes.Buffer
	log := New("json", "warn", &b)
	log.Info("hidden")
	log.Warn("shown", "route", "^/api/agents/me$", "status", 200)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("lines %q", lines)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "shown" || rec["level"] != slog.LevelWarn.String() || rec["status"] != float64(200) {
		t.Fatalf("record %v", rec)
	}
}
