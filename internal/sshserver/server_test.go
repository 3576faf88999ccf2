package sshserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func start(t *testing.T, exec bool) (*Server, *ssh.Client) {
	t.Helper()
	hostKey, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{HostKey: hostKey, AuthorizedKey: clientKey.PublicKey(), Exec: exec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	line := srv.KnownHostsLine(addr.String())
	_, _, pub, _, _, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil {
		t.Fatalf("known_hosts line %q: %v", line, err)
	}
	client, err := ssh.Dial("tcp", addr.String(), &ssh.ClientConfig{
		User: "u", Auth: []ssh.AuthMethod{ssh.PublicKeys(clientKey)},
		HostKeyCallback: ssh.FixedHostKey(pub), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return srv, client
}

func TestListenRefusesNonLoopback(t *testing.T) {
	hostKey, _, _ := GenerateKey()
	srv, err := New(Options{HostKey: hostKey, AuthorizedKey: hostKey.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Listen("0.0.0.0:0"); err == nil {
		t.Fatal("listening on 0.0.0.0 succeeded")
	}
}

func TestRejectsOtherKeys(t *testing.T) {
	srv, _ := start(t, false)
	other, _, _ := GenerateKey()
	_, err := ssh.Dial("tcp", srv.Addr().String(), &ssh.ClientConfig{
		User: "u", Auth: []ssh.AuthMethod{ssh.PublicKeys(other)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("Dial with another key: %v", err)
	}
}

func TestForwardRoundTrip(t *testing.T) {
	srv, client := start(t, false)
	ln, err := client.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	_ = ln.Close() // cancel-tcpip-forward
	srv.SetRefuseForwards(true)
	if _, err := client.Listen("tcp", "127.0.0.1:0"); err == nil {
		t.Fatal("forward succeeded while refused")
	}
}

func TestKeepaliveKnob(t *testing.T) {
	srv, client := start(t, false)
	if _, _, err := client.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatal(err)
	}
	srv.SetDropKeepalives(true)
	done := make(chan error, 1)
	go func() {
		_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("keepalive answered while dropped: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	srv.CloseConns()
	if err := <-done; err == nil {
		t.Fatal("pending keepalive succeeded after CloseConns")
	}
}

func TestExec(t *testing.T) {
	_, client := start(t, true)
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Setenv("X", "y"); err == nil {
		t.Error("env request accepted; a stock sshd refuses it")
	}
	var out bytes.Buffer
	sess.Stdout = &out
	sess.Stdin = strings.NewReader("in\n")
	err = sess.Run("read l; echo got $l; exit 7")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 || out.String() != "got in\n" {
		t.Fatalf("Run = %v, out %q", err, out.String())
	}
}

func TestExecRefusedByDefault(t *testing.T) {
	_, client := start(t, false)
	if _, err := client.NewSession(); err == nil {
		t.Fatal("session accepted without Options.Exec")
	}
}

func TestKnownHostsLine(t *testing.T) {
	srv, _ := start(t, false)
	line := srv.KnownHostsLine(srv.Addr().String())
	if !strings.HasPrefix(line, knownhosts.Normalize(srv.Addr().String())+" ssh-ed25519 ") {
		t.Fatalf("line = %q", line)
	}
}

// The demo's commands are the agent's: they get a login-like minimum, never the sidecar's
// secrets, which live in the environment of the process hosting this server.
func TestExecEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("CLIPBRIDGE_RUN_TOKEN", "run-token-must-not-leak")
	t.Setenv("CLIPBRIDGE_SSH_KEY", "ssh-key-must-not-leak")
	t.Setenv("FOO", "bar-must-not-leak")
	t.Setenv("SSH_AUTH_SOCK", "/nonexistent/agent.sock")
	_, client := start(t, true)
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Output("env")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"CLIPBRIDGE_", "must-not-leak", "SSH_AUTH_SOCK"} {
		if bytes.Contains(out, []byte(bad)) {
			t.Errorf("command environment holds %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{"PATH=/usr/local/bin:/usr/bin:/bin\n", "SHELL=/bin/sh\n", "HOME="} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("command environment lacks %q:\n%s", want, out)
		}
	}
}
