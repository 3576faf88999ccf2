package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	base := map[string]string{"CLIPBRIDGE_RUN_TOKEN": "jwt", "CLIPBRIDGE_RUN_ID": "r1"}
	c, err := Load("serve", nil, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInFlight != 64 || c.UpstreamTimeout != 30*time.Second || c.Upstream.String() != DefaultUpstream ||
		c.MaxBodyBytes != 10551296 || c.DrainTimeout != 10*time.Second || c.Listen != "127.0.0.1:0" {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.BridgeGenerated || len(c.BridgeToken.Reveal()) != 32 {
		t.Fatalf("bridge token %q generated=%v", c.BridgeToken.Reveal(), c.BridgeGenerated)
	}
	base["CLIPBRIDGE_MAX_INFLIGHT"] = "7"
	base["CLIPBRIDGE_UPSTREAM_TIMEOUT"] = "5s"
	c, err = Load("serve", []string{"--max-inflight", "9"}, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInFlight != 9 || c.UpstreamTimeout != 5*time.Second {
		t.Fatalf("flag should beat env, env beat default: %d %v", c.MaxInFlight, c.UpstreamTimeout)
	}
	c, err = Load("serve", []string{"--max-body-bytes", "1MiB", "--ssh-host", "h", "--", "sh", "-c", "echo hi"}, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxBodyBytes != 1<<20 || strings.Join(c.Command, "|") != "sh|-c|echo hi" {
		t.Fatalf("%d %q", c.MaxBodyBytes, c.Command)
	}
}

func TestHelp(t *testing.T) {
	if _, err := Load("serve", []string{"--help"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	s := NewSecret("hunter2-token")
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("x", "s", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), sb.String()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret printed: %s", out)
		}
	}
	c, err := Load("serve", nil, env(map[string]string{"CLIPBRIDGE_RUN_TOKEN": "jwt-secret-value", "CLIPBRIDGE_RUN_ID": "r"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprintf("%+v", c), "jwt-secret-value") {
		t.Fatal("Config prints the run token")
	}
}

func TestTokenFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tok")
	if err := os.WriteFile(p, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load("serve", []string{"--run-token-file", p}, env(map[string]string{"CLIPBRIDGE_RUN_ID": "r"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RunToken.Reveal() != "from-file" {
		t.Fatalf("token %q", c.RunToken.Reveal())
	}
	_, err = Load("serve", []string{"--run-token-file", p}, env(map[string]string{"CLIPBRIDGE_RUN_ID": "r", "CLIPBRIDGE_RUN_TOKEN": "x"}))
	if err == nil || !strings.Contains(err.Error(), "both set") {
		t.Fatalf("both sources: %v", err)
	}
	_, err = Load("serve", []string{"--run-token-file", filepath.Join(dir, "missing")}, env(map[string]string{"CLIPBRIDGE_RUN_ID": "r"}))
	if err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Fatalf("missing file: %v", err)
	}
	_, err = Load("serve", nil, env(map[string]string{"CLIPBRIDGE_RUN_ID": "r", "CLIPBRIDGE_RUN_TOKEN": "same-token-1234567", "CLIPBRIDGE_BRIDGE_TOKEN": "same-token-1234567"}))
	if err == nil || !strings.Contains(err.Error(), "equals the run token") {
		t.Fatalf("equal tokens: %v", err)
	}
}

func TestUpstreamURL(t *testing.T) {
	for in, ok := range map[string]bool{
		"http://h:3100":       true,
		"https://h/base/":     true,
		"ftp://h":             false,
		"http://":             false,
		"http://u:p@h":        false,
		"http://h/?q=1":       false,
		"http://h/a//b":       false,
		"not a url at all %%": false,
	} {
		_, err := parseUpstream(in)
		if (err == nil) != ok {
			t.Errorf("%q: err=%v", in, err)
		}
	}
}

var sizeCases = map[string]int64{"10551296": 10551296, "1KiB": 1024, "10MiB": 10 << 20, "1GB": 1e9, "5B": 5, " 7 ": 7}

func TestParseSize(t *testing.T) {
	for in, want := range sizeCases {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("%q = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "+5", "1.5MiB", "MiB", "1 TB", "99999999999999999999", "9223372036854775807KiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for in := range sizeCases {
		f.Add(in)
	}
	f.Add("9223372036854775807GiB")
	f.Fuzz(func(t *testing.T, in string) {
		n, err := ParseSize(in)
		if err == nil && n <= 0 {
			t.Fatalf("%q gave %d", in, n)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "250ms", "1m30s", "0", "-1s", "1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseDuration(in)
		if err == nil && d <= 0 {
			t.Fatalf("%q gave %v", in, d)
		}
	})
}

func TestModes(t *testing.T) {
	base := map[string]string{"CLIPBRIDGE_RUN_TOKEN": "jwt", "CLIPBRIDGE_RUN_ID": "r1"}
	for _, tc := range []struct {
		args    []string
		mode    Mode
		runner  string
		wantErr string
	}{
		{nil, ModeLocal, "local", ""},
		{[]string{"--ssh-host", "h"}, ModeSSH, "ssh", ""},
		{[]string{"--queue-dir", "/q"}, ModeQueue, "local", ""},
		{[]string{"--queue-dir", "/q", "--ssh-host", "h"}, ModeQueue, "ssh", ""},
		{[]string{"--queue-dir", "/q", "--runner", "exec", "--runner-exec", "docker exec -i c"}, ModeQueue, "exec", ""},
		{[]string{"--queue-dir", "/q", "--runner", "ssh"}, "", "", "--runner ssh needs --ssh-host"},
		{[]string{"--queue-dir", "/q", "--runner", "relay"}, ModeQueue, "relay", ""},
		{[]string{"--queue-dir", "/q", "--runner", "relay", "--relay-fd", "2"}, "", "", "--relay-fd/CLIPBRIDGE_RELAY_FD \"2\""},
		{[]string{"--runner", "relay"}, "", "", "--runner relay needs --queue-dir"},
		{[]string{"--queue-dir", "/q", "--runner", "exec", "--runner-exec", "x", "--runner-exec-one-shot"}, ModeQueue, "exec", ""},
		{[]string{"--queue-dir", "/q", "--runner-exec-one-shot"}, "", "", "--runner-exec-one-shot needs --runner exec"},
		{[]string{"--queue-dir", "/q", "--runner", "exec"}, "", "", "--runner exec needs --runner-exec"},
		{[]string{"--queue-dir", "/q", "--runner", "exec", "--runner-exec", "kubectl exec -i p --", "--runner-exec-env", "AWS_PROFILE, GOOGLE_*"}, ModeQueue, "exec", ""},
		{[]string{"--queue-dir", "/q", "--runner-exec-env", "AWS_PROFILE"}, "", "", "--runner-exec-env needs --runner exec"},
		{[]string{"--queue-dir", "/q", "--runner", "exec", "--runner-exec", "x", "--runner-exec-env", "CLIPBRIDGE_RUN_TOKEN"}, "", "",
			`"CLIPBRIDGE_RUN_TOKEN": clipbridge's own settings never pass to a child`},
		{[]string{"--queue-dir", "/q", "--runner", "exec", "--runner-exec", "x", "--runner-exec-env", "A,,B"}, "", "", `"" is not a variable name`},
		{[]string{"--queue-dir", "/q", "--runner", "exec", "--runner-exec", "x", "--runner-exec-env", "A=b"}, "", "", `"A=b" is not a variable name`},
		{[]string{"--start-gateway"}, "", "", "--start-gateway needs --queue-dir"},
		{[]string{"--queue-dir", "/q", "--bridge-mode", "http2_v1"}, ModeQueue, "local", ""},
		{[]string{"--queue-dir", "/q", "--bridge-mode", "http2_v1", "--ssh-host", "h"}, ModeQueue, "ssh", ""},
		{[]string{"--bridge-mode", "http2_v1"}, "", "", "--bridge-mode http2_v1 needs --queue-dir"},
		{[]string{"--queue-dir", "/q", "--bridge-mode", "duplex_v1"}, "", "", `--bridge-mode/CLIPBRIDGE_BRIDGE_MODE "duplex_v1"`},
		{[]string{"--", "true"}, "", "", "needs --ssh-host"},
		{[]string{"--ssh-port", "0", "--ssh-host", "h"}, "", "", "--ssh-port/CLIPBRIDGE_SSH_PORT \"0\""},
		{[]string{"--remote-listen", "localhost:0", "--ssh-host", "h"}, "", "", "want an IP literal"},
	} {
		c, err := Load("serve", tc.args, env(base))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if c.Mode() != tc.mode || c.Queue.Runner != tc.runner {
			t.Errorf("%q: mode %s runner %s", tc.args, c.Mode(), c.Queue.Runner)
		}
	}
}

func TestParsePassEnv(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{" AWS_PROFILE , AWS_* ", []string{"AWS_PROFILE", "AWS_*"}, false},
		{"lower_ok", []string{"lower_ok"}, false},
		{"*", nil, true},
		{"A**", nil, true},
		{"A*B", nil, true},
		{"1A", nil, true},
		{"CLIPBRIDGE_*", nil, true},
		{"CLIPBRIDGE_SSH_KEY", nil, true},
	} {
		got, err := parsePassEnv(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("parsePassEnv(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// Every secret setting arrives in a CLIPBRIDGE_* variable: runner.ChildEnv drops that whole
// prefix from what a child inherits, so a secret named otherwise would leak to children.
func TestSecretSettingsAreNotInherited(t *testing.T) {
	settings, err := settingsFor("serve")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if s.secret && !strings.HasPrefix(s.env, "CLIPBRIDGE_") {
			t.Errorf("secret setting %s is not a CLIPBRIDGE_* variable", s.env)
		}
	}
}

// An unknown or incomplete setting is reported as typed, with two dashes.
func TestFlagErrorsSpeakDoubleDash(t *testing.T) {
	for args, want := range map[string]string{
		"--nosuch":           "flag provided but not defined: --nosuch",
		"--listen":           "flag needs an argument: --listen",
		"--max-body-bytes=x": "--max-body-bytes",
	} {
		_, err := Load("serve", []string{args}, env(nil))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), ": -"+strings.TrimLeft(args, "-")) {
			t.Errorf("Load(%q) = %v, want it to name %q", args, err, want)
		}
	}
}
