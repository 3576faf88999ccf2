package runner

import (
	"slices"
	"strings"
)

// secretPrefix names clipbridge's own settings. The sidecar's secrets (run token, bridge token,
// SSH key and its passphrase) arrive in variables with this prefix, so no inherited variable
// with it ever reaches a child, whatever an allowlist says.
const secretPrefix = "CLIPBRIDGE_"

// LocalAllowlist is everything a process clipbridge starts on this machine inherits from the
// sidecar's environment. The children are bridge plumbing (sh scripts, the gateway, the queue
// agent), not the agent, so they need little; anything else the sidecar was started with (its
// launcher's PAPERCLIP_API_KEY, cloud credentials, an ssh-agent socket) stays with the sidecar.
// An entry ending in "*" matches every name with that prefix.
var LocalAllowlist = []string{
	"PATH",         // children are found by name: sh, mkdir, sha256sum
	"HOME",         // tools look for their files under ~
	"LANG", "LC_*", // the locale the operator chose, for tools that print or parse text
	"TMPDIR", // where the operator wants temporary files
	"TZ",     // so timestamps in children's output match the sidecar's
}

// ExecClientAllowlist is what the exec runner's local process inherits: a client such as
// `docker exec`, `kubectl exec`, `podman exec` or `ssh`, which needs its own configuration to
// reach the execution host. The command it runs there gets none of this from clipbridge, only
// Command.Env through the prelude (a stand-in prefix like `sh -c 'exec "$@"'` passes its own
// environment on, a real client does not).
var ExecClientAllowlist = slices.Concat(LocalAllowlist, []string{
	// docker: which daemon, which context, where its config and TLS material are.
	"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY",
	"DOCKER_TLS", "DOCKER_API_VERSION",
	// podman remote: the same for podman.
	"CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINER_SSHKEY",
	// kubectl: the kubeconfig, or the in-cluster API server when the sidecar runs in a pod.
	"KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
	// Rootless docker and podman find their sockets and config under these.
	"XDG_RUNTIME_DIR", "XDG_CONFIG_HOME",
	// TLS roots and proxies the client needs to reach a remote daemon or API server.
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
	// ssh (as the prefix, or under DOCKER_HOST=ssh://) authenticates with the agent. It does
	// not forward the agent to the far side unless the operator's ssh_config says so.
	"SSH_AUTH_SOCK",
})

// ChildEnv builds a child's full environment: the entries of environ (os.Environ's form) whose
// names allow admits, minus every CLIPBRIDGE_* name, followed by extra (which wins over an
// inherited entry of the same name) in sorted order. Entries without a name are dropped. extra
// is the caller's deliberate choice and passes as given (the gateway needs
// CLIPBRIDGE_GATEWAY_EXIT_ON_STDIN_EOF, which is no secret); the CLIPBRIDGE_* rule guards only
// what would otherwise be inherited.
func ChildEnv(environ, allow []string, extra map[string]string) []string {
	env := make([]string, 0, len(allow)+len(extra))
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.HasPrefix(k, secretPrefix) || !allowed(allow, k) {
			continue
		}
		if _, over := extra[k]; over {
			continue
		}
		env = append(env, kv)
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// allowed reports whether name is in allow, exactly or by a "PREFIX*" entry.
func allowed(allow []string, name string) bool {
	for _, a := range allow {
		if p, ok := strings.CutSuffix(a, "*"); ok {
			if strings.HasPrefix(name, p) {
				return true
			}
		} else if a == name {
			return true
		}
	}
	return false
}
