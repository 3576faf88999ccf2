package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// sshStack is the compose stack run without Docker, on loopback: keys from
// sshhost/keygen.sh, sshd with sshhost/sshd_config, `clipbridge standin`
// and `clipbridge serve` with the compose file's own command and
// environment, only addresses and paths rewritten.
type sshStack struct {
	keys        string // keygen.sh's OUT
	remote      string // the forward's address on the "execution host"
	ready       readyLine
	serve       *process
	sshdLog     *testsupport.LockedBuffer
	runToken    string
	bridgeToken string
}

// startSSHStack brings the stack up, or skips when a tool or the SSH
// transport is missing.
func startSSHStack(t *testing.T) *sshStack {
	t.Helper()
	sshd := requireTool(t, "sshd", "openssh-server")
	requireTool(t, "ssh-keygen", "openssh-client")
	if !wired(t).ssh {
		t.Skip("skipped: the SSH transport is not wired into `clipbridge serve` yet (no --ssh-host in serve --help)")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sshPort, remotePort := testsupport.FreePort(t), testsupport.FreePort(t)
	s := &sshStack{keys: filepath.Join(dir, "keys"), remote: "127.0.0.1:" + strconv.Itoa(remotePort)}
	runTool(t, "", []string{
		"PATH=" + os.Getenv("PATH"),
		"OUT=" + s.keys,
		"EXECHOST=[127.0.0.1]:" + strconv.Itoa(sshPort),
		"REMOTE_LISTEN=" + s.remote,
		"AGENT_USER=" + u.Username,
	}, "sh", "sshhost/keygen.sh")
	s.runToken = strings.TrimSpace(readFile(t, filepath.Join(s.keys, "clipbridge", "run-token")))
	s.bridgeToken = strings.TrimSpace(readFile(t, filepath.Join(s.keys, "clipbridge", "bridge-token")))

	cfg := rewriteSSHDConfig(t, readFile(t, "sshhost/sshd_config"), filepath.Join(s.keys, "exechost"), sshPort, u.Username)
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.sshdLog = startSSHD(t, sshd, cfgPath)

	compose := loadComposeFile(t)
	cp := compose.Services["controlplane"]
	standin := startClipbridge(t, rewriteEnv(t, cp.Environment, map[string]string{"/secrets/": filepath.Join(s.keys, "controlplane") + "/"}, nil),
		"standin", "--listen", "127.0.0.1:0")
	upstream := standin.standinURL(t)

	cb := compose.Services["clipbridge"]
	paths := map[string]string{"/secrets/": filepath.Join(s.keys, "clipbridge") + "/"}
	env := rewriteEnv(t, cb.Environment, paths, map[string]string{
		"CLIPBRIDGE_UPSTREAM":     upstream,
		"CLIPBRIDGE_ADMIN_LISTEN": "127.0.0.1:0",
	})
	args := rewriteArgs(cb.Command, paths, map[string]string{
		"--ssh-host":      "127.0.0.1",
		"--ssh-user":      u.Username,
		"--ssh-port":      strconv.Itoa(sshPort),
		"--remote-listen": s.remote,
	})
	s.serve = startClipbridge(t, env, args...)
	s.ready = s.serve.ready(t)
	return s
}

// rewriteSSHDConfig points the execution host's sshd_config at the test's
// keys, port and user. Every directive it rewrites must be present, so a
// drifting config fails here rather than testing something else.
func rewriteSSHDConfig(t *testing.T, cfg, keysDir string, port int, user string) string {
	t.Helper()
	rootLogin := "no"
	if user == "root" {
		// CI runs as root: the key-only equivalent of "no" for it.
		rootLogin = "prohibit-password"
	}
	repl := map[string]string{
		"Port":               fmt.Sprintf("%d\nListenAddress 127.0.0.1", port),
		"PidFile":            "none",
		"AllowUsers":         user,
		"PermitRootLogin":    rootLogin,
		"HostKey":            "",
		"AuthorizedKeysFile": "",
	}
	seen := map[string]bool{}
	// First value wins in sshd_config: this line beats any later one. The
	// temporary directory's parents (/tmp is world-writable) would fail
	// StrictModes' path checks.
	out := []string{"StrictModes no"}
	for _, line := range strings.Split(cfg, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			if v, ok := repl[f[0]]; ok {
				seen[f[0]] = true
				if v == "" {
					v = strings.Replace(f[1], "/keys/", keysDir+"/", 1)
				}
				line = f[0] + " " + v
			}
		}
		out = append(out, line)
	}
	for k := range repl {
		if !seen[k] {
			t.Fatalf("sshhost/sshd_config has no %s line", k)
		}
	}
	return strings.Join(out, "\n")
}

// startSSHD runs sshd in the foreground until the test ends and returns
// its log.
func startSSHD(t *testing.T, sshd, cfgPath string) *testsupport.LockedBuffer {
	t.Helper()
	if os.Geteuid() == 0 {
		// sshd running as root chroots its pre-auth child here.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfgPath)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := &testsupport.LockedBuffer{}
	listening := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var once sync.Once
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if strings.HasPrefix(sc.Text(), "Server listening on") {
				once.Do(func() { close(listening) })
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})
	select {
	case <-listening:
	case <-done:
		t.Fatalf("sshd exited at start-up:\n%s", log.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("sshd not listening after 10s:\n%s", log.String())
	}
	return log
}

// rewriteEnv turns a compose environment map into a child environment:
// path prefixes replaced, some values overridden.
func rewriteEnv(t *testing.T, env map[string]string, paths, override map[string]string) []string {
	t.Helper()
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		if o, ok := override[k]; ok {
			v = o
		}
		for from, to := range paths {
			if strings.HasPrefix(v, from) {
				v = to + strings.TrimPrefix(v, from)
			}
		}
		out = append(out, k+"="+v)
	}
	return out
}

// rewriteArgs replaces the values of --flag=value arguments named in
// values (adding those missing) and path prefixes in the others.
func rewriteArgs(args []string, paths, values map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range args {
		name, v, ok := strings.Cut(a, "=")
		if nv, hit := values[name]; ok && hit {
			seen[name] = true
			out = append(out, name+"="+nv)
			continue
		}
		for from, to := range paths {
			if strings.HasPrefix(v, from) {
				a = name + "=" + to + strings.TrimPrefix(v, from)
			}
		}
		out = append(out, a)
	}
	for name, v := range values {
		if !seen[name] {
			out = append(out, name+"="+v)
		}
	}
	return out
}
