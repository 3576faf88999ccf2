package runner

import (
	"io"
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/internal/realsshd"
)

// parentSecrets are what a sidecar's own environment holds; none may reach any child.
var parentSecrets = map[string]string{
	"CLIPBRIDGE_RUN_TOKEN":          "run-token-must-not-leak",
	"CLIPBRIDGE_BRIDGE_TOKEN":       "bridge-token-must-not-leak",
	"CLIPBRIDGE_SSH_KEY":            "-----BEGIN OPENSSH PRIVATE KEY-----must-not-leak",
	"CLIPBRIDGE_SSH_KEY_PASSPHRASE": "passphrase-must-not-leak",
	"PAPERCLIP_API_KEY":             "paperclip-run-jwt-must-not-leak",
	"FOO":                           "bar-must-not-leak",
}

// setParentEnv gives this process the environment of a sidecar started by a launcher: its
// secrets, unrelated variables, an ssh-agent and docker client settings.
func setParentEnv(t *testing.T) {
	t.Helper()
	for k, v := range parentSecrets {
		t.Setenv(k, v)
	}
	t.Setenv("SSH_AUTH_SOCK", "/nonexistent/agent.sock")
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("LC_TIME", "C")
}

// envOf runs `env` through r (with Run and with Start) and returns each run's variables.
func envOf(t *testing.T, r Runner) map[string]map[string]string {
	t.Helper()
	cmd := Command{Script: "env", Env: map[string]string{"EXTRA": "given"}}
	res, err := r.Run(t.Context(), cmd)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run env: %+v %v", res, err)
	}
	p, err := r.Start(t.Context(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Stdin().Close()
	go func() { _, _ = io.Copy(io.Discard, p.Stderr()) }()
	out, _ := io.ReadAll(p.Stdout())
	if code, err := p.Wait(); code != 0 || err != nil {
		t.Fatalf("Start env: exit %d %v", code, err)
	}
	return map[string]map[string]string{"Run": parseEnv(res.Stdout), "Start": parseEnv(out)}
}

func parseEnv(b []byte) map[string]string {
	env := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// Every child a runner starts sees an allowlisted environment: no CLIPBRIDGE_* setting, no
// secret the sidecar was given, nothing unrelated; PATH, HOME and the command's own Env do
// arrive. The exec runner's local client (here `sh -c 'exec "$@"'` standing in for
// `docker exec -i`) also gets its client settings (DOCKER_HOST, SSH_AUTH_SOCK), which is what
// the command sees through this stand-in prefix; the local and SSH runners pass neither.
func TestChildEnvironmentIsAllowlisted(t *testing.T) {
	setParentEnv(t)
	runners := testRunners(t)
	if realsshd.Available() || requireSSHD() {
		// sshd accepting any env request: the runner must simply never send one.
		srv := realsshd.StartT(t, realsshd.Config{Extra: []string{"AcceptEnv *"}})
		runners["ssh-acceptenv"] = newTestSSH(t, srv)
	}
	for name, r := range runners {
		execClient := strings.HasPrefix(name, "exec")
		for how, env := range envOf(t, r) {
			t.Run(name+"/"+how, func(t *testing.T) {
				for k, v := range env {
					if strings.HasPrefix(k, "CLIPBRIDGE_") {
						t.Errorf("child sees %s", k)
					}
					for sk, sv := range parentSecrets {
						if strings.Contains(v, sv) {
							t.Errorf("child sees the value of %s in %s", sk, k)
						}
					}
				}
				for _, k := range []string{"PATH", "HOME"} {
					if env[k] == "" {
						t.Errorf("child has no %s", k)
					}
				}
				if env["EXTRA"] != "given" {
					t.Errorf("EXTRA = %q, want the command's own value", env["EXTRA"])
				}
				_, agent := env["SSH_AUTH_SOCK"]
				_, docker := env["DOCKER_HOST"]
				if agent != execClient || docker != execClient {
					t.Errorf("SSH_AUTH_SOCK passed %v, DOCKER_HOST passed %v; want %v (exec client only)", agent, docker, execClient)
				}
				if !strings.HasPrefix(name, "ssh") && env["LC_TIME"] != "C" {
					t.Errorf("LC_TIME = %q, want the locale passed on", env["LC_TIME"])
				}
			})
		}
	}
}

// ExecOptions.PassEnv widens what the exec client inherits, but never to CLIPBRIDGE_*.
func TestExecPassEnv(t *testing.T) {
	setParentEnv(t)
	r, err := NewExec(ExecOptions{Prefix: testPrefix, PassEnv: []string{"FOO", "CLIPBRIDGE_RUN_TOKEN", "CLIPBRIDGE_*"}})
	if err != nil {
		t.Fatal(err)
	}
	for how, env := range envOf(t, r) {
		if env["FOO"] != parentSecrets["FOO"] {
			t.Errorf("%s: FOO = %q, want it passed", how, env["FOO"])
		}
		for k := range env {
			if strings.HasPrefix(k, "CLIPBRIDGE_") {
				t.Errorf("%s: child sees %s", how, k)
			}
		}
	}
}
