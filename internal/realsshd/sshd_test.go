package realsshd

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func dial(t *testing.T, s *Server, addr string) *ssh.Client {
	t.Helper()
	_, _, pub, _, _, err := ssh.ParseKnownHosts([]byte(s.KnownHostsLine()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		// Through the relay the address differs, so pin the key itself.
		HostKeyCallback: ssh.FixedHostKey(pub), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func run(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestStartKillRestart(t *testing.T) {
	s := StartT(t, Config{})
	c := dial(t, s, s.Addr())
	if got := run(t, c, "echo ok"); got != "ok" {
		t.Fatalf("echo = %q", got)
	}
	pids, err := s.ServingPIDs(c.LocalAddr())
	if err != nil || len(pids) == 0 {
		t.Fatalf("ServingPIDs = %v, %v", pids, err)
	}
	t.Logf("serving pids %v (%s); a session shell's parent is %s", pids, cmdlines(pids), run(t, c, "echo $PPID"))
	if all, _ := s.SessionPIDs(); len(all) < len(pids) {
		t.Fatalf("SessionPIDs %v misses serving %v", all, pids)
	}
	if _, err := s.KillServing(c.LocalAddr(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)

	port := s.Port
	c2 := dial(t, s, s.Addr())
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c2) // restart drops existing sessions too
	if s.Port != port {
		t.Fatalf("port changed across restart: %d -> %d", port, s.Port)
	}
	c3 := dial(t, s, s.Addr())
	if got := run(t, c3, "echo again"); got != "again" {
		t.Fatalf("echo = %q", got)
	}
}

func TestConfigOptions(t *testing.T) {
	s := StartT(t, Config{AllowTCPForwarding: "no"})
	c := dial(t, s, s.Addr())
	if _, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		t.Fatal("remote forward allowed with AllowTcpForwarding no")
	}
}

func TestRelayBlackhole(t *testing.T) {
	s := StartT(t, Config{})
	r := NewRelayT(t, s.Addr())
	c := dial(t, s, r.Addr().String())
	if got := run(t, c, "echo via relay"); got != "via relay" {
		t.Fatalf("echo = %q", got)
	}
	r.Blackhole()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("request answered through a black hole: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	// The sshd side still believes the session is alive.
	if pids, err := s.SessionPIDs(); err != nil || len(pids) == 0 {
		t.Fatalf("session gone after black hole: %v %v", pids, err)
	}
	// A new connection through the relay works.
	c2 := dial(t, s, r.Addr().String())
	if got := run(t, c2, "echo fresh"); got != "fresh" {
		t.Fatalf("echo = %q", got)
	}
	_ = c.Close()
	<-done
}

func waitClosed(t *testing.T, c *ssh.Client) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		_ = c.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open")
	}
}

func cmdlines(pids []int) string {
	var out []string
	for _, p := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		out = append(out, strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
	}
	return strings.Join(out, "; ")
}
