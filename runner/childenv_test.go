package runner

import (
	"slices"
	"testing"
)

func TestChildEnv(t *testing.T) {
	parent := []string{
		"PATH=/usr/bin:/bin", "HOME=/home/op", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC", "TMPDIR=/tmp/op",
		"CLIPBRIDGE_RUN_TOKEN=run", "CLIPBRIDGE_SSH_KEY=key", "CLIPBRIDGE_SSH_KEY_PASSPHRASE=pass",
		"PAPERCLIP_API_KEY=jwt", "FOO=bar", "SSH_AUTH_SOCK=/run/agent", "DOCKER_HOST=unix:///d.sock",
		"AWS_PROFILE=prod", "=nameless", "NOEQUALS",
	}
	cases := []struct {
		name  string
		allow []string
		extra map[string]string
		want  []string
	}{
		{name: "local", allow: LocalAllowlist,
			want: []string{"PATH=/usr/bin:/bin", "HOME=/home/op", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC", "TMPDIR=/tmp/op"}},
		{name: "extra added sorted and wins", allow: LocalAllowlist, extra: map[string]string{"Z": "1", "HOME": "/x", "A": "2"},
			want: []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC", "TMPDIR=/tmp/op", "A=2", "HOME=/x", "Z=1"}},
		{name: "exec client", allow: ExecClientAllowlist,
			want: []string{"PATH=/usr/bin:/bin", "HOME=/home/op", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC", "TMPDIR=/tmp/op",
				"SSH_AUTH_SOCK=/run/agent", "DOCKER_HOST=unix:///d.sock"}},
		{name: "prefix entry", allow: []string{"AWS_*"}, want: []string{"AWS_PROFILE=prod"}},
		// However the allowlist is written, the sidecar's own settings stay behind.
		{name: "CLIPBRIDGE_ never inherited", allow: []string{"CLIPBRIDGE_RUN_TOKEN", "CLIPBRIDGE_*", "C*", "*"},
			want: []string{"PATH=/usr/bin:/bin", "HOME=/home/op", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC", "TMPDIR=/tmp/op",
				"PAPERCLIP_API_KEY=jwt", "FOO=bar", "SSH_AUTH_SOCK=/run/agent", "DOCKER_HOST=unix:///d.sock", "AWS_PROFILE=prod"}},
		{name: "explicit extra is the caller's choice", allow: nil, extra: map[string]string{"CLIPBRIDGE_GATEWAY_EXIT_ON_STDIN_EOF": "1"},
			want: []string{"CLIPBRIDGE_GATEWAY_EXIT_ON_STDIN_EOF=1"}},
		{name: "nothing allowed", allow: nil, want: []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ChildEnv(parent, tc.allow, tc.extra)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ChildEnv =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// An empty environment must stay empty, not turn into "inherit everything" (exec.Cmd's nil Env).
func TestOSCommandNeverInherits(t *testing.T) {
	t.Setenv("FOO", "bar")
	cmd := osCommand{argv: []string{"env"}}.newCmd(t.Context())
	if cmd.Env == nil || len(cmd.Env) != 0 {
		t.Fatalf("Env = %q, want empty and non-nil", cmd.Env)
	}
}
