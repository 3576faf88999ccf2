package gateway

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The gateway is handed nothing of the callback API: it shares the checks through the leaf
// package proxy/policy and must not import proxy, directly or through anything it imports.
func TestGatewayDoesNotImportProxy(t *testing.T) {
	const module = "github.com/clipbridge/clipbridge"
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	seen := map[string]string{} // package -> the package that imported it
	var walk func(pkg string)
	walk = func(pkg string) {
		p, err := build.ImportDir(filepath.Join(root, strings.TrimPrefix(pkg, module)), 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if _, ok := seen[imp]; ok {
				continue
			}
			seen[imp] = pkg
			walk(imp)
		}
	}
	walk(module + "/tunnel/queue/gateway")
	if by, ok := seen[module+"/proxy"]; ok {
		t.Fatalf("the gateway imports proxy (through %s)", by)
	}
	if _, ok := seen[module+"/proxy/policy"]; !ok {
		t.Fatal("the gateway no longer imports proxy/policy: is this test still looking at the right package?")
	}
}
