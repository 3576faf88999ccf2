package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	line  int    // where it starts, 1-based
	cmd   string // upper-cased: FROM, ARG, RUN…
	args  string
	stage int // index of the FROM it belongs to
}

// parseDockerfile splits a Dockerfile into instructions, enough for the
// static checks below (no heredocs; the Dockerfiles here use none). Comments
// and parser directives are dropped.
func parseDockerfile(text string) []dockerInstruction {
	var out []dockerInstruction
	stage := -1
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		} else if strings.HasPrefix(t, "#") {
			continue // a comment inside a continued instruction
		}
		if body, ok := strings.CutSuffix(t, "\\"); ok {
			cur.WriteString(strings.TrimSpace(body) + " ")
			continue
		}
		cur.WriteString(t)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, dockerInstruction{line: start, cmd: cmd, args: strings.TrimSpace(args), stage: stage})
	}
	return out
}

var (
	// pinnedImageRE is name:tag@sha256:<64 hex>: the tag for people and
	// update bots, the digest for the build.
	pinnedImageRE = regexp.MustCompile(`^[a-z0-9.\-/]+:[A-Za-z0-9._\-]+@sha256:[0-9a-f]{64}$`)
	ociLabelRE    = regexp.MustCompile(`(org\.opencontainers\.image\.[a-z.]+)=("[^"]*"|\S+)`)
)

// TestDockerfile checks the image's build promises without a Docker engine:
// base images pinned by digest, a cross-compiling build stage driven by
// buildx's TARGETOS/TARGETARCH (multi-arch without emulation), a static
// binary, OCI labels from build arguments, and a non-root final stage.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(readFile(t, repoRoot+"/Dockerfile"))
	var froms []dockerInstruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in)
		}
	}
	if len(froms) != 2 {
		t.Fatalf("%d FROM lines, want 2 (build and final)", len(froms))
	}
	for _, f := range froms {
		fields := strings.Fields(f.args)
		var image string
		for _, fl := range fields {
			if !strings.HasPrefix(fl, "--") {
				image = fl
				break
			}
		}
		if !pinnedImageRE.MatchString(image) {
			t.Errorf("line %d: FROM %s: want image:tag@sha256:<digest>", f.line, image)
		}
	}
	build, final := froms[0], froms[1]
	if !strings.Contains(build.args, "--platform=$BUILDPLATFORM") || !strings.HasSuffix(build.args, " AS build") {
		t.Errorf("line %d: the build stage wants FROM --platform=$BUILDPLATFORM … AS build, so buildx cross-compiles instead of emulating", build.line)
	}
	if strings.Contains(final.args, "--platform") {
		t.Errorf("line %d: the final stage must take the target platform, not pin one", final.line)
	}

	args := map[int][]string{} // stage -> ARG names
	var goBuild []dockerInstruction
	labels := map[string]string{}
	var user, healthcheck bool
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			for _, a := range strings.Fields(in.args) {
				name, _, _ := strings.Cut(a, "=")
				args[in.stage] = append(args[in.stage], name)
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				goBuild = append(goBuild, in)
			}
		case "LABEL":
			if in.stage != final.stage {
				t.Errorf("line %d: LABEL outside the final stage does not reach the image", in.line)
			}
			for _, m := range ociLabelRE.FindAllStringSubmatch(in.args, -1) {
				labels[m[1]] = strings.Trim(m[2], `"`)
			}
		case "USER":
			user = in.stage == final.stage && strings.HasPrefix(in.args, "nonroot")
		case "HEALTHCHECK":
			healthcheck = in.stage == final.stage
		}
	}

	if len(goBuild) != 1 {
		t.Fatalf("%d RUN go build lines, want 1", len(goBuild))
	}
	gb := goBuild[0]
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "-trimpath", "main.version=${VERSION}", "main.commit=${COMMIT}"} {
		if !strings.Contains(gb.args, want) {
			t.Errorf("line %d: go build without %s", gb.line, want)
		}
	}
	for _, a := range []string{"TARGETOS", "TARGETARCH", "VERSION", "COMMIT"} {
		if !slices.Contains(args[build.stage], a) {
			t.Errorf("the build stage does not declare ARG %s, so its RUN sees it empty", a)
		}
	}

	want := map[string]string{
		"org.opencontainers.image.title":       "clipbridge",
		"org.opencontainers.image.source":      "https://github.com/clipbridge/clipbridge",
		"org.opencontainers.image.version":     "${VERSION}",
		"org.opencontainers.image.revision":    "${COMMIT}",
		"org.opencontainers.image.created":     "${CREATED}",
		"org.opencontainers.image.description": "",
	}
	for k, v := range want {
		got, ok := labels[k]
		switch {
		case !ok:
			t.Errorf("no LABEL %s", k)
		case v != "" && got != v:
			t.Errorf("LABEL %s=%q, want %q", k, got, v)
		case got == "":
			t.Errorf("LABEL %s is empty", k)
		}
		if a, ok := strings.CutPrefix(v, "${"); ok {
			if a = strings.TrimSuffix(a, "}"); !slices.Contains(args[final.stage], a) {
				t.Errorf("LABEL %s uses ${%s}, which the final stage does not declare (ARGs do not cross stages)", k, a)
			}
		}
	}
	if base, ok := labels["org.opencontainers.image.base.name"]; ok {
		if image, _, _ := strings.Cut(strings.Fields(final.args)[0], "@"); base != image {
			t.Errorf("LABEL org.opencontainers.image.base.name=%q, but the final stage is FROM %s", base, image)
		}
	}
	if !user {
		t.Error("the final stage does not run as USER nonroot")
	}
	if !healthcheck {
		t.Error("the final stage has no HEALTHCHECK")
	}
}

func TestParseDockerfile(t *testing.T) {
	got := parseDockerfile("# syntax=docker/dockerfile:1\nFROM a:1@sha256:x AS b\n# c\nRUN x \\\n  # inside\n  y\n\nfrom c\nlabel k=v\n")
	want := []dockerInstruction{
		{line: 2, cmd: "FROM", args: "a:1@sha256:x AS b", stage: 0},
		{line: 4, cmd: "RUN", args: "x y", stage: 0},
		{line: 8, cmd: "FROM", args: "c", stage: 1},
		{line: 9, cmd: "LABEL", args: "k=v", stage: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.line != w.line || g.cmd != w.cmd || g.args != w.args || g.stage != w.stage {
			t.Errorf("instruction %d = %+v, want %+v", i, g, w)
		}
	}
}
