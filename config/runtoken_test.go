package config

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestTokenFileRefusesInvalidRotation: a re-read token is held to the
// rules a token read at start-up meets. An invalid one (a line break, a
// space, a control byte) keeps the last good token and logs a warning
// without the value; a valid rewrite after it is taken.
func TestTokenFileRefusesInvalidRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "jwt")
		write := func(v string) {
			if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("good-1\n")
		var logs bytes.Buffer
		tf := NewTokenFile(path, NewSecret("good-1"), time.Second, slog.New(slog.NewTextHandler(&logs, nil)))
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = tf.Run(ctx); close(done) }()
		for _, bad := range []string{"evil\nX-Injected: 1\n", "two words", "nul\x00", "caf\xc3\xa9"} {
			write(bad)
			time.Sleep(1500 * time.Millisecond)
			if got := tf.Token(); got != "good-1" {
				t.Fatalf("after %q the token is %q, want the last good one", bad, got)
			}
		}
		write("good-2\n")
		time.Sleep(1500 * time.Millisecond)
		if got := tf.Token(); got != "good-2" {
			t.Fatalf("token %q, want good-2", got)
		}
		stop()
		<-done // the log buffer is the watcher's until it has returned
		out := logs.String()
		if !strings.Contains(out, "run token file holds an invalid token") {
			t.Fatalf("no warning:\n%s", out)
		}
		for _, secret := range []string{"evil", "X-Injected", "two words", "good-"} {
			if strings.Contains(out, secret) {
				t.Fatalf("log holds %q:\n%s", secret, out)
			}
		}
	})
}
