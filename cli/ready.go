package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// agentEnv is what the agent is told. Field order is the ready line's
// documented order; empty fields are left out (the queue mode without a
// gateway has no URL or key of its own).
type agentEnv struct {
	URL      string `json:"PAPERCLIP_API_URL,omitempty"`
	Key      string `json:"PAPERCLIP_API_KEY,omitempty"`
	Mode     string `json:"PAPERCLIP_API_BRIDGE_MODE"`
	QueueDir string `json:"PAPERCLIP_BRIDGE_QUEUE_DIR,omitempty"`
}

// readyLine is the one line serve prints on stdout once it serves:
// the contract launchers read.
type readyLine struct {
	Event    string   `json:"event"`
	Env      agentEnv `json:"env"`
	AdminURL string   `json:"admin_url"`
}

func writeReadyLine(w io.Writer, env agentEnv, adminURL string) error {
	b, err := json.Marshal(readyLine{Event: "ready", Env: env, AdminURL: adminURL})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// httpURL turns a listener address into the URL an agent uses. A
// wildcard bind is reached through loopback.
func httpURL(addr net.Addr) string {
	host, port, _ := net.SplitHostPort(addr.String())
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// writeEnvFile writes the agent env as dotenv lines, atomically (temp
// file in the same directory, then rename) and readable by the owner
// only: it holds the bridge token.
func writeEnvFile(path string, env agentEnv) error {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"PAPERCLIP_API_URL", env.URL},
		{"PAPERCLIP_API_KEY", env.Key},
		{"PAPERCLIP_API_BRIDGE_MODE", env.Mode},
		{"PAPERCLIP_BRIDGE_QUEUE_DIR", env.QueueDir},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".clipbridge-env-*")
	if err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write env file: %w", err)
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("write env file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	return nil
}
