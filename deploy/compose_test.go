package deploy

import (
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeFile is the part of a compose file these tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	NetworkMode string            `yaml:"network_mode"`
	User        string            `yaml:"user"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

func parseCompose(t *testing.T, text string) *composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		t.Fatalf("compose YAML: %v", err)
	}
	return &c
}

// loadComposeFile parses docker-compose.yaml as written (no docker-compose
// needed).
func loadComposeFile(t *testing.T) *composeFile {
	t.Helper()
	return parseCompose(t, readFile(t, repoRoot+"/docker-compose.yaml"))
}

// TestComposeConfig validates docker-compose.yaml with docker-compose itself
// and then checks, on its normalised output, the promises the stack makes.
func TestComposeConfig(t *testing.T) {
	dc := requireTool(t, "docker-compose", "docker-compose")
	out, err := runToolErr(t, repoRoot, append(minimalEnv(t), "COMPOSE_PROJECT_NAME=clipbridge"), dc, "-f", "docker-compose.yaml", "config")
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	c := parseCompose(t, out)

	want := []string{"agent", "clipbridge", "controlplane", "exechost", "keygen", "prometheus"}
	var got []string
	for name := range c.Services {
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}

	cb := c.Services["clipbridge"]
	if len(cb.Command) == 0 || cb.Command[0] != "serve" {
		t.Fatalf("clipbridge command = %v, want serve ...", cb.Command)
	}
	names := slices.Clone(cb.Command[1:])
	for k := range cb.Environment {
		names = append(names, k)
	}
	checkSettings(t, "docker-compose.yaml clipbridge", names)
	standinHelp := helpText(t, "standin")
	for k := range c.Services["controlplane"].Environment {
		if !containsWord(standinHelp, k) {
			t.Errorf("controlplane: %s is not read by `clipbridge standin` (see standin --help)", k)
		}
	}

	t.Run("no secret values", func(t *testing.T) {
		for name, s := range c.Services {
			for k := range s.Environment {
				if secretName(k) && !strings.HasSuffix(k, "_FILE") {
					t.Errorf("%s: %s carries a secret in the compose file; use %s_FILE", name, k, k)
				}
			}
		}
	})

	t.Run("each party mounts only its own secrets", func(t *testing.T) {
		want := map[string][]string{
			"exechost-keys":        {"agent", "exechost", "keygen"},
			"clipbridge-secrets":   {"clipbridge", "keygen"},
			"controlplane-secrets": {"controlplane", "keygen"},
		}
		got := map[string][]string{}
		for name, s := range c.Services {
			for _, v := range s.Volumes {
				parts := strings.Split(v, ":")
				if _, named := want[parts[0]]; !named {
					continue
				}
				got[parts[0]] = append(got[parts[0]], name)
				if name != "keygen" && (len(parts) < 3 || parts[2] != "ro") {
					t.Errorf("%s mounts %s writable: %q", name, parts[0], v)
				}
			}
		}
		for vol, services := range want {
			slices.Sort(got[vol])
			if !slices.Equal(got[vol], services) {
				t.Errorf("volume %s mounted by %v, want %v", vol, got[vol], services)
			}
		}
	})

	t.Run("published ports stay on loopback", func(t *testing.T) {
		for name, s := range c.Services {
			for _, p := range s.Ports {
				if !strings.HasPrefix(p, "127.0.0.1:") {
					t.Errorf("%s publishes %q on every interface", name, p)
				}
			}
		}
	})

	t.Run("the pieces agree", func(t *testing.T) { checkComposeWiring(t, c) })
}

// checkComposeWiring checks that addresses and file names used by one
// service match those another provides.
func checkComposeWiring(t *testing.T, c *composeFile) {
	cb := c.Services["clipbridge"]
	flags := map[string]string{}
	for _, a := range cb.Command[1:] {
		k, v, _ := strings.Cut(a, "=")
		flags[k] = v
	}
	keygen := readFile(t, "sshhost/keygen.sh")
	if d := shellDefault(t, keygen, "REMOTE_LISTEN"); d != flags["--remote-listen"] {
		t.Errorf("keygen.sh REMOTE_LISTEN default %q (authorized_keys permitlisten, agent.env) != --remote-listen %q", d, flags["--remote-listen"])
	}
	if d := shellDefault(t, keygen, "EXECHOST"); d != flags["--ssh-host"] {
		t.Errorf("keygen.sh EXECHOST default %q (known_hosts) != --ssh-host %q", d, flags["--ssh-host"])
	}
	if _, ok := c.Services[flags["--ssh-host"]]; !ok {
		t.Errorf("--ssh-host %q is not a compose service", flags["--ssh-host"])
	}
	if got := c.Services["agent"].NetworkMode; got != "service:exechost" {
		t.Errorf("agent network_mode %q: it must share the execution host's loopback, where the forward listens", got)
	}
	// Every secret file clipbridge and the stand-in read is one keygen writes
	// into their volume.
	for svc, dir := range map[string]string{"clipbridge": "cb", "controlplane": "cp"} {
		s := c.Services[svc]
		var vals []string
		for _, v := range s.Environment {
			vals = append(vals, v)
		}
		for _, a := range s.Command {
			_, v, _ := strings.Cut(a, "=")
			vals = append(vals, v)
		}
		for _, v := range vals {
			if name, ok := strings.CutPrefix(v, "/secrets/"); ok && !strings.Contains(keygen, `"$`+dir+`/`+name+`"`) {
				t.Errorf("%s reads /secrets/%s, which keygen.sh does not write to $%s", svc, name, dir)
			}
		}
	}
	if u := cb.Environment["CLIPBRIDGE_UPSTREAM"]; u != "http://controlplane:3100" || !slices.Contains(c.Services["controlplane"].Command, "0.0.0.0:3100") {
		t.Errorf("CLIPBRIDGE_UPSTREAM %q does not match the controlplane service's --listen %v", u, c.Services["controlplane"].Command)
	}
	_, adminPort, err := net.SplitHostPort(cb.Environment["CLIPBRIDGE_ADMIN_LISTEN"])
	if err != nil {
		t.Fatalf("CLIPBRIDGE_ADMIN_LISTEN: %v", err)
	}
	prom := readFile(t, "prometheus/prometheus.yml")
	if target := `"clipbridge:` + adminPort + `"`; !strings.Contains(prom, target) {
		t.Errorf("prometheus.yml does not scrape %s (clipbridge's admin listener)", target)
	}
	if !slices.Contains(c.Services["prometheus"].Volumes, absPath(t, "prometheus")+":/etc/prometheus:ro") {
		t.Errorf("prometheus does not mount deploy/prometheus at /etc/prometheus: %v", c.Services["prometheus"].Volumes)
	}
}

// secretName reports whether an environment variable's name says it holds
// a secret.
func secretName(k string) bool {
	return strings.Contains(k, "TOKEN") || strings.Contains(k, "KEY") || strings.Contains(k, "PASSPHRASE") || strings.Contains(k, "PASSWORD")
}

// shellDefault finds NAME=${NAME:-default} in a shell script.
func shellDefault(t *testing.T, script, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `=\$\{` + name + `:-([^}]*)\}`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no %s=${%s:-default} in the script", name, name)
	}
	return m[1]
}

func absPath(t *testing.T, rel string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd + "/" + rel
}
