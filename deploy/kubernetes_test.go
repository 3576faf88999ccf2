package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// k8sObject is the part of the example's objects these tests read. No
// kubectl or API server runs here: the manifest is checked structurally.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	RestartPolicy                 string      `yaml:"restartPolicy"`
	TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
	ShareProcessNamespace         bool        `yaml:"shareProcessNamespace"`
	SecurityContext               podSecurity `yaml:"securityContext"`
	InitContainers                []container `yaml:"initContainers"`
	Containers                    []container `yaml:"containers"`
	Volumes                       []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode int    `yaml:"defaultMode"`
		} `yaml:"secret"`
		EmptyDir *struct {
			Medium string `yaml:"medium"`
		} `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

type podSecurity struct {
	RunAsNonRoot bool `yaml:"runAsNonRoot"`
	RunAsUser    int  `yaml:"runAsUser"`
	FSGroup      int  `yaml:"fsGroup"`
}

type container struct {
	Name          string   `yaml:"name"`
	RestartPolicy string   `yaml:"restartPolicy"`
	Args          []string `yaml:"args"`
	Env           []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe    *probe `yaml:"startupProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	SecurityContext struct {
		RunAsUser int `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

func (c *container) env(name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// flag returns the value of --name=value in the container's args.
func (c *container) flag(name string) string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func loadManifest(t *testing.T) []k8sObject {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(readFile(t, "kubernetes/clipbridge-sidecar.yaml"))))
	var objs []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("kubernetes/clipbridge-sidecar.yaml: %v", err)
		}
		objs = append(objs, o)
	}
}

func TestKubernetesSidecar(t *testing.T) {
	var secret, job *k8sObject
	objs := loadManifest(t)
	for i := range objs {
		switch o := &objs[i]; o.APIVersion + " " + o.Kind {
		case "v1 Secret":
			secret = o
		case "batch/v1 Job":
			job = o
		default:
			t.Errorf("unexpected object %s %s", o.APIVersion, o.Kind)
		}
	}
	if secret == nil || job == nil {
		t.Fatal("want a v1 Secret and a batch/v1 Job")
	}
	pod := &job.Spec.Template.Spec
	var sc *container
	for i := range pod.InitContainers {
		if pod.InitContainers[i].Name == "clipbridge" {
			sc = &pod.InitContainers[i]
		}
	}
	if sc == nil || sc.RestartPolicy != "Always" {
		t.Fatal("want an init container named clipbridge with restartPolicy: Always (a native sidecar)")
	}
	if len(pod.Containers) == 0 {
		t.Fatal("no run container")
	}
	if len(sc.Args) == 0 || sc.Args[0] != "serve" {
		t.Fatalf("sidecar args %v, want serve ...", sc.Args)
	}
	names := slices.Clone(sc.Args[1:])
	for _, e := range sc.Env {
		names = append(names, e.Name)
		if secretName(e.Name) && !strings.HasSuffix(e.Name, "_FILE") {
			t.Errorf("env %s puts a secret in the pod spec; use %s_FILE on the Secret volume", e.Name, e.Name)
		}
	}
	checkSettings(t, "clipbridge-sidecar.yaml", names)

	t.Run("probes on the admin port", func(t *testing.T) {
		_, port, err := net.SplitHostPort(sc.env("CLIPBRIDGE_ADMIN_LISTEN"))
		if err != nil {
			t.Fatalf("CLIPBRIDGE_ADMIN_LISTEN: %v", err)
		}
		admin := ""
		for _, p := range sc.Ports {
			if strconv.Itoa(p.ContainerPort) == port {
				admin = p.Name
			}
		}
		if admin == "" {
			t.Fatalf("no container port %s (CLIPBRIDGE_ADMIN_LISTEN)", port)
		}
		for _, c := range []struct {
			name string
			p    *probe
			path string
		}{{"startupProbe", sc.StartupProbe, "/readyz"}, {"readinessProbe", sc.ReadinessProbe, "/readyz"}, {"livenessProbe", sc.LivenessProbe, "/healthz"}} {
			switch {
			case c.p == nil || c.p.HTTPGet == nil:
				t.Errorf("%s: want an httpGet probe", c.name)
			case c.p.HTTPGet.Path != c.path:
				t.Errorf("%s: path %s, want %s", c.name, c.p.HTTPGet.Path, c.path)
			case c.p.HTTPGet.Port != admin && c.p.HTTPGet.Port != port:
				t.Errorf("%s: port %v, want %s (%s)", c.name, c.p.HTTPGet.Port, admin, port)
			}
		}
		if got := job.Spec.Template.Metadata.Annotations["prometheus.io/port"]; got != port {
			t.Errorf("prometheus.io/port %q, want the admin port %s", got, port)
		}
	})

	t.Run("secrets come from the Secret volume, for the sidecar only", func(t *testing.T) {
		secretVols := map[string]bool{}
		for _, v := range pod.Volumes {
			if v.Secret != nil {
				secretVols[v.Name] = true
				if v.Secret.SecretName != secret.Metadata.Name {
					t.Errorf("volume %s mounts Secret %q, not %q", v.Name, v.Secret.SecretName, secret.Metadata.Name)
				}
				if v.Secret.DefaultMode != 0o440 {
					t.Errorf("volume %s defaultMode %#o, want 0440 (owner and fsGroup only)", v.Name, v.Secret.DefaultMode)
				}
			}
		}
		files := map[string]string{
			"CLIPBRIDGE_RUN_TOKEN_FILE":    sc.env("CLIPBRIDGE_RUN_TOKEN_FILE"),
			"CLIPBRIDGE_BRIDGE_TOKEN_FILE": sc.env("CLIPBRIDGE_BRIDGE_TOKEN_FILE"),
			"--ssh-key-file":               sc.flag("--ssh-key-file"),
			"--ssh-known-hosts":            sc.flag("--ssh-known-hosts"),
		}
		for setting, file := range files {
			dir, key := path.Split(file)
			mounted := false
			for _, m := range sc.VolumeMounts {
				if secretVols[m.Name] && m.MountPath == path.Clean(dir) && m.ReadOnly {
					mounted = true
				}
			}
			if !mounted {
				t.Errorf("%s %q is not in a read-only Secret volume mount", setting, file)
			}
			if _, ok := secret.StringData[key]; !ok {
				t.Errorf("%s %q: the Secret has no key %q", setting, file, key)
			}
		}
		for _, c := range pod.Containers {
			for _, m := range c.VolumeMounts {
				if secretVols[m.Name] {
					t.Errorf("run container %s mounts the Secret volume %s", c.Name, m.Name)
				}
			}
		}
		if pod.ShareProcessNamespace {
			t.Error("shareProcessNamespace would let the run container read the sidecar's memory")
		}
	})

	t.Run("the run container reads the agent env", func(t *testing.T) {
		envFile := sc.flag("--env-file")
		if envFile == "" {
			envFile = sc.env("CLIPBRIDGE_ENV_FILE")
		}
		if envFile == "" {
			t.Fatal("the sidecar writes no --env-file")
		}
		dir := path.Dir(envFile)
		vol := ""
		for _, m := range sc.VolumeMounts {
			if m.MountPath == dir && !m.ReadOnly {
				vol = m.Name
			}
		}
		if vol == "" {
			t.Fatalf("--env-file %s is not on a writable volume of the sidecar", envFile)
		}
		for _, v := range pod.Volumes {
			if v.Name == vol && (v.EmptyDir == nil || v.EmptyDir.Medium != "Memory") {
				t.Errorf("volume %s: want an emptyDir in memory, so the bridge token never reaches the node's disk", vol)
			}
		}
		for _, c := range pod.Containers {
			ok := false
			for _, m := range c.VolumeMounts {
				ok = ok || m.Name == vol && m.MountPath == dir && m.ReadOnly
			}
			if !ok {
				t.Errorf("run container %s does not mount %s read-only at %s", c.Name, vol, dir)
			}
			if c.RestartPolicy != "" {
				t.Errorf("run container %s has a restartPolicy (only sidecars do)", c.Name)
			}
			if c.SecurityContext.RunAsUser != 0 && c.SecurityContext.RunAsUser != pod.SecurityContext.RunAsUser {
				t.Errorf("run container %s runs as another user: it could not read the 0600 env file", c.Name)
			}
		}
		if sc := pod.SecurityContext; !sc.RunAsNonRoot || sc.RunAsUser == 0 || sc.FSGroup == 0 {
			t.Errorf("pod securityContext %+v: want runAsNonRoot, one runAsUser for both containers, and fsGroup", sc)
		}
	})

	if pod.TerminationGracePeriodSeconds <= 10 {
		t.Errorf("terminationGracePeriodSeconds %d must exceed the 10 s drain", pod.TerminationGracePeriodSeconds)
	}
}
