package deploy

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// runKeygen runs sshhost/keygen.sh into a temporary OUT.
func runKeygen(t *testing.T, env ...string) string {
	t.Helper()
	requireTool(t, "ssh-keygen", "openssh-client")
	out := filepath.Join(t.TempDir(), "keys")
	runTool(t, "", append([]string{"PATH=" + os.Getenv("PATH"), "OUT=" + out}, env...), "sh", "sshhost/keygen.sh")
	return out
}

// TestSSHDConfig has OpenSSH itself parse the execution host's sshd_config
// and checks the effective settings: key authentication only, for one
// user, remote forwards only.
func TestSSHDConfig(t *testing.T) {
	sshd := requireTool(t, "sshd", "openssh-server")
	keys := runKeygen(t)
	cfg := strings.ReplaceAll(readFile(t, "sshhost/sshd_config"), "/keys/", filepath.Join(keys, "exechost")+"/")
	path := filepath.Join(t.TempDir(), "sshd_config")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, "", nil, sshd, "-T", "-f", path, "-C", "user=agent,host=clipbridge,addr=127.0.0.1")
	effective := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			effective[k] = v
		}
	}
	for k, want := range map[string]string{
		"port":                         "22",
		"allowusers":                   "agent",
		"permitrootlogin":              "no",
		"pubkeyauthentication":         "yes",
		"passwordauthentication":       "no",
		"kbdinteractiveauthentication": "no",
		"permitemptypasswords":         "no",
		"allowtcpforwarding":           "remote",
		"gatewayports":                 "no",
		"allowagentforwarding":         "no",
		"allowstreamlocalforwarding":   "no",
		"x11forwarding":                "no",
		"permittunnel":                 "no",
		"permituserenvironment":        "no",
	} {
		if got := effective[k]; got != want {
			t.Errorf("sshd -T: %s = %q, want %q", k, got, want)
		}
	}
}

// TestKeygen checks what each party's directory holds: the execution host
// never gets the run token or clipbridge's private key, and a second run
// keeps the keys.
func TestKeygen(t *testing.T) {
	keys := runKeygen(t, "EXECHOST=exechost", "REMOTE_LISTEN=127.0.0.1:3100")
	rd := func(p string) string { return readFile(t, filepath.Join(keys, p)) }
	runToken := strings.TrimSpace(rd("clipbridge/run-token"))
	bridgeToken := strings.TrimSpace(rd("clipbridge/bridge-token"))
	if len(runToken) != 32 || len(bridgeToken) != 32 || runToken == bridgeToken {
		t.Fatalf("tokens: want two different 32-character tokens, got %d and %d characters", len(runToken), len(bridgeToken))
	}
	if got := strings.TrimSpace(rd("controlplane/run-token")); got != runToken {
		t.Error("the control plane and clipbridge hold different run tokens")
	}
	clientKey := rd("clipbridge/id_ed25519")
	err := filepath.WalkDir(filepath.Join(keys, "exechost"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), runToken) {
			t.Errorf("%s holds the run token", p)
		}
		if strings.Contains(string(b), strings.TrimSpace(clientKey)) {
			t.Errorf("%s holds clipbridge's private key", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	env := rd("exechost/agent.env")
	for _, want := range []string{"PAPERCLIP_API_URL=http://127.0.0.1:3100\n", "PAPERCLIP_API_KEY=" + bridgeToken + "\n", "PAPERCLIP_API_BRIDGE_MODE=queue_v1\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("agent.env lacks %q", strings.TrimSpace(want))
		}
	}
	pub := strings.Fields(rd("clipbridge/id_ed25519.pub"))
	if ak := rd("exechost/authorized_keys"); !strings.HasPrefix(ak, `restrict,port-forwarding,permitlisten="127.0.0.1:3100" `+pub[0]+" "+pub[1]) {
		t.Errorf("authorized_keys does not restrict clipbridge's key to the one forward:\n%s", ak)
	}
	hostPub := strings.Fields(rd("exechost/ssh_host_ed25519_key.pub"))
	if kh := rd("clipbridge/known_hosts"); kh != "exechost "+hostPub[0]+" "+hostPub[1]+"\n" {
		t.Errorf("known_hosts %q does not pin the exechost host key", kh)
	}
	for _, p := range []string{"clipbridge/id_ed25519", "clipbridge/run-token", "clipbridge/bridge-token", "controlplane/run-token",
		"exechost/ssh_host_ed25519_key", "exechost/agent.env"} {
		if st, err := os.Stat(filepath.Join(keys, p)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: want mode 0600, got %v (%v)", p, st.Mode().Perm(), err)
		}
	}

	runTool(t, "", []string{"PATH=" + os.Getenv("PATH"), "OUT=" + keys}, "sh", "sshhost/keygen.sh")
	if rd("clipbridge/id_ed25519") != clientKey || strings.TrimSpace(rd("clipbridge/run-token")) != runToken {
		t.Error("a second keygen run replaced existing keys")
	}
}

// TestAgentCallKeepsTokenOutOfArgv runs agent-call with a curl that records
// its argv and stdin: the bridge token must reach curl on stdin only, where
// `ps` on the execution host cannot see it.
func TestAgentCallKeepsTokenOutOfArgv(t *testing.T) {
	dir := t.TempDir()
	const token = "bridge-token-0123456789abcdefghij"
	envFile := filepath.Join(dir, "agent.env")
	if err := os.WriteFile(envFile, []byte("PAPERCLIP_API_URL=http://127.0.0.1:3100\nPAPERCLIP_API_KEY="+token+"\nPAPERCLIP_API_BRIDGE_MODE=queue_v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fake := "#!/bin/sh\nprintf '%s\\n' \"$@\" >\"$ARGV_OUT\"\ncat >\"$STDIN_OUT\"\necho '{\"id\":\"agent-demo\"}'\n"
	if err := os.WriteFile(filepath.Join(dir, "curl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	argv, stdin := filepath.Join(dir, "argv"), filepath.Join(dir, "stdin")
	out := runTool(t, "", []string{"PATH=" + dir + ":" + os.Getenv("PATH"), "AGENT_ENV_FILE=" + envFile,
		"ARGV_OUT=" + argv, "STDIN_OUT=" + stdin}, "sh", "sshhost/agent-call.sh")
	if !strings.Contains(out, "agent-demo") {
		t.Errorf("output %q", out)
	}
	args := readFile(t, argv)
	if strings.Contains(args, token) {
		t.Errorf("the bridge token is in curl's argv:\n%s", args)
	}
	if !strings.Contains(args, "http://127.0.0.1:3100/api/agents/me\n") {
		t.Errorf("curl did not get the /api/agents/me URL:\n%s", args)
	}
	if got := readFile(t, stdin); !strings.Contains(got, "Authorization: Bearer "+token) {
		t.Errorf("the token did not reach curl on stdin: %q", got)
	}
}

// TestSSHStack is the compose stack without Docker: clipbridge, run with
// the compose file's command and environment, holds a remote forward on a
// real sshd configured like the exechost image, and the agent's curl
// reaches the stand-in control plane through it with the bridge token only.
func TestSSHStack(t *testing.T) {
	requireTool(t, "curl", "curl")
	s := startSSHStack(t)
	if got, want := s.ready.Env["PAPERCLIP_API_URL"], "http://"+s.remote; got != want {
		t.Errorf("ready line PAPERCLIP_API_URL %q, want %q (--remote-listen)", got, want)
	}
	if s.ready.Env["PAPERCLIP_API_KEY"] != s.bridgeToken {
		t.Error("ready line PAPERCLIP_API_KEY is not the bridge token from CLIPBRIDGE_BRIDGE_TOKEN_FILE")
	}
	out := runTool(t, "", []string{"PATH=" + os.Getenv("PATH"), "AGENT_ENV_FILE=" + filepath.Join(s.keys, "exechost", "agent.env")},
		"sh", "sshhost/agent-call.sh")
	for _, want := range []string{`"id":"agent-demo"`, `"runId":"run-compose"`} {
		if !strings.Contains(out, want) {
			t.Errorf("agent-call output lacks %s: %s", want, out)
		}
	}
	if resp, body := testsupport.Get(t, s.ready.AdminURL+"/readyz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz %d %s", resp.StatusCode, body)
	}
	if resp, _ := testsupport.Get(t, s.ready.Env["PAPERCLIP_API_URL"]+"/metrics", nil); resp.StatusCode == http.StatusOK {
		t.Error("/metrics answers through the tunnel; the admin listener must stay local")
	}
	m := scrape(t, s.ready.AdminURL)
	if !m.has("clipbridge_tunnel_up") {
		t.Error("no clipbridge_tunnel_up in SSH mode")
	}
	logs := s.serve.stderr.String() + s.sshdLog.String()
	for name, secret := range map[string]string{"run token": s.runToken, "bridge token": s.bridgeToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in clipbridge's or sshd's log", name)
		}
	}
}
