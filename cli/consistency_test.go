package cli

import (
	"regexp"
	"strings"
	"testing"
)

// singleDashFlag finds a setting listed Go's way, "-name" at a line's start.
var singleDashFlag = regexp.MustCompile(`\n\s+-[a-z]`)

// Every subcommand treats its command line the same way: --help prints
// the usage on stdout only and exits 0; a setting it does not know is
// named as typed (two dashes) on stderr and exits 2; so does a stray
// argument to a command that takes none.
func TestEverySubcommandHelpAndUsageErrors(t *testing.T) {
	commands := []string{"serve", "demo", "check", "health", "status", "standin", "gateway", "queue-agent", "version"}
	for _, cmd := range commands {
		t.Run(cmd, func(t *testing.T) {
			out, errOut, code := runBinary(t, nil, cmd, "--help")
			if code != 0 || !strings.Contains(out, "clipbridge "+cmd) || errOut != "" {
				t.Errorf("%s --help: exit %d, stdout %q, stderr %q; want the usage on stdout only, exit 0", cmd, code, out, errOut)
			}
			if singleDashFlag.MatchString(out) {
				t.Errorf("%s --help lists settings with one dash:\n%s", cmd, out)
			}
			out, errOut, code = runBinary(t, nil, cmd, "--nosuch")
			if code != 2 || !strings.Contains(errOut, "--nosuch") || strings.Contains(errOut, " -nosuch") {
				t.Errorf("%s --nosuch: exit %d, stderr %q; want exit 2 naming --nosuch", cmd, code, errOut)
			}
		})
	}
	for _, cmd := range []string{"version", "gateway", "queue-agent"} {
		if _, errOut, code := runBinary(t, nil, cmd, "extra"); code != 2 || !strings.Contains(errOut, `"extra"`) {
			t.Errorf("%s extra: exit %d, stderr %q; want exit 2", cmd, code, errOut)
		}
	}
	out, _, _ := runBinary(t, nil, "help")
	for _, cmd := range commands {
		if !strings.Contains(out, "\n  "+cmd) {
			t.Errorf("the command list does not name %s:\n%s", cmd, out)
		}
	}
}

// A gateway whose configuration is unusable exits 2, as every command's
// configuration error does, with Paperclip's own message.
func TestGatewayConfigErrorExitsTwo(t *testing.T) {
	for name, env := range map[string][]string{
		"no token":         {"PAPERCLIP_BRIDGE_QUEUE_DIR=/tmp/q"},
		"unsupported mode": {"PAPERCLIP_API_BRIDGE_MODE=duplex_v1", "PAPERCLIP_BRIDGE_TOKEN=t", "PAPERCLIP_BRIDGE_QUEUE_DIR=/tmp/q"},
	} {
		_, errOut, code := runBinary(t, env, "gateway")
		if code != 2 || !strings.Contains(errOut, "[paperclip-bridge] server error:") {
			t.Errorf("%s: exit %d, stderr %q; want 2", name, code, errOut)
		}
	}
}
