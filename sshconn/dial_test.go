package sshconn

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/clipbridge/clipbridge/internal/sshserver"
	"github.com/clipbridge/clipbridge/internal/testsupport"
)

func TestDialSucceeds(t *testing.T) {
	f := newFixture(t)
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".ssh", "id_ed25519"), f.clientPEM)
	knownFile := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownFile, []byte(f.srv.KnownHostsLine(f.addr())+"\n"))

	passphrase := []byte("correct horse")
	encPEM := f.encryptedPEM(t, passphrase)
	tests := []struct {
		name   string
		modify func(o *Options)
	}{
		{"key text and known_hosts text", func(*Options) {}},
		{"key file", func(o *Options) {
			o.KeyPEM = nil
			o.KeyFile = filepath.Join(t.TempDir(), "key")
			writeFile(t, o.KeyFile, f.clientPEM)
		}},
		{"encrypted key with passphrase", func(o *Options) { o.KeyPEM, o.Passphrase = encPEM, passphrase }},
		{"default key file from HOME", func(o *Options) {
			o.KeyPEM = nil
			o.Getenv = envMap(map[string]string{"HOME": home})
		}},
		{"agent", func(o *Options) {
			o.KeyPEM = nil
			o.Getenv = envMap(map[string]string{"SSH_AUTH_SOCK": startAgent(t, f)})
		}},
		{"known_hosts file", func(o *Options) { o.KnownHosts, o.KnownHostsFile = "", knownFile }},
		{"default known_hosts", func(o *Options) {
			o.KnownHosts = ""
			writeFile(t, filepath.Join(home, ".ssh", "known_hosts"), []byte(f.srv.KnownHostsLine(f.addr())+"\n"))
			o.Getenv = envMap(map[string]string{"HOME": home})
		}},
		{"hashed known_hosts entry", func(o *Options) {
			o.KnownHosts = knownhosts.HashHostname(knownhosts.Normalize(f.addr())) + " " +
				string(ssh.MarshalAuthorizedKey(f.hostKey.PublicKey()))
		}},
		{"insecure ignore host key", func(o *Options) { o.KnownHosts, o.InsecureIgnoreHostKey = "", true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := f.options()
			tc.modify(&o)
			c, err := Dial(t.Context(), o)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			if _, _, err := c.Client().SendRequest("keepalive@openssh.com", true, nil); err != nil {
				t.Fatalf("request on new connection: %v", err)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	f := newFixture(t)
	otherKey, otherPEM, err := sshserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	closedPort := testsupport.FreePort(t)
	silent := silentListener(t)
	notSSH := closingListener(t)
	passphrase := []byte("s3cret-passphrase")
	encPEM := f.encryptedPEM(t, passphrase)

	tests := []struct {
		name     string
		modify   func(o *Options)
		kind     ErrorKind
		contains []string
	}{
		{"connection refused", func(o *Options) { o.Port = closedPort }, KindUnreachable,
			[]string{"connection refused", "sshd running"}},
		{"wrong key", func(o *Options) { o.KeyPEM = otherPEM }, KindAuth,
			[]string{"authorized_keys", `"tester"`, ssh.FingerprintSHA256(otherKey.PublicKey()), "key text"}},
		{"host key unknown", func(o *Options) { o.KnownHosts = "" }, KindHostKeyUnknown,
			[]string{ssh.FingerprintSHA256(f.hostKey.PublicKey()), "ssh-keyscan -p " + strconv.Itoa(f.port) + " 127.0.0.1",
				"CLIPBRIDGE_SSH_KNOWN_HOSTS", f.srv.KnownHostsLine(f.addr())}},
		{"host key changed", func(o *Options) {
			o.KnownHosts = knownhosts.Line([]string{knownhosts.Normalize(f.addr())}, otherKey.PublicKey())
		}, KindHostKeyChanged, []string{"man-in-the-middle", ssh.FingerprintSHA256(f.hostKey.PublicKey()),
			ssh.FingerprintSHA256(otherKey.PublicKey()), "ssh-keygen -R"}},
		{"host key revoked", func(o *Options) {
			o.KnownHosts = "@revoked * " + string(ssh.MarshalAuthorizedKey(f.hostKey.PublicKey()))
		}, KindHostKeyChanged, []string{"revoked"}},
		{"encrypted key without passphrase", func(o *Options) { o.KeyPEM = encPEM }, KindConfig, []string{"no passphrase"}},
		{"encrypted key with wrong passphrase", func(o *Options) { o.KeyPEM, o.Passphrase = encPEM, []byte("wrong-guess") }, KindConfig,
			[]string{"wrong passphrase"}},
		{"missing key file", func(o *Options) { o.KeyPEM, o.KeyFile = nil, "/nonexistent/key" }, KindConfig, []string{"/nonexistent/key"}},
		{"missing known_hosts file", func(o *Options) { o.KnownHosts, o.KnownHostsFile = "", "/nonexistent/kh" }, KindConfig,
			[]string{"/nonexistent/kh"}},
		{"no credentials", func(o *Options) { o.KeyPEM = nil }, KindConfig, []string{"no ssh private key"}},
		{"server never speaks", func(o *Options) { o.Port, o.ConnectTimeout = silent, 300*time.Millisecond }, KindHandshake,
			[]string{"connect timeout"}},
		{"not an ssh server", func(o *Options) { o.Port = notSSH }, KindHandshake, nil},
		{"no host", func(o *Options) { o.Host = "" }, KindConfig, []string{"host is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := f.options()
			tc.modify(&o)
			c, err := Dial(t.Context(), o)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded, want error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not *Error", err, err)
			}
			if e.Kind != tc.kind || KindOf(err) != tc.kind {
				t.Errorf("kind = %v, want %v (%v)", e.Kind, tc.kind, err)
			}
			msg := err.Error()
			for _, want := range tc.contains {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			for _, secret := range [][]byte{passphrase, []byte("wrong-guess"), f.clientPEM, otherPEM, encPEM} {
				if strings.Contains(msg, string(secret)) {
					t.Errorf("error leaks secret material: %q", msg)
				}
			}
			// No key body line appears, even partially.
			if strings.Contains(msg, "PRIVATE KEY") {
				t.Errorf("error mentions private key text: %q", msg)
			}
		})
	}
}

func TestDialHonoursContext(t *testing.T) {
	port := silentListener(t)
	f := newFixture(t)
	o := f.options()
	o.Port = port
	ctx, cancel := contextWithCancelAfter(t, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, o)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Dial = %v after %s, want a prompt error", err, time.Since(start))
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestDialAsksForKnownHostKeyType: a server with ed25519 and RSA host keys,
// and only the RSA key in known_hosts. The client must negotiate RSA instead
// of taking the server's preferred ed25519 key and calling it "changed".
func TestDialAsksForKnownHostKeyType(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSigner, err := ssh.NewSignerFromKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, rsaSigner)
	o := f.options()
	o.KnownHosts = knownhosts.Line([]string{knownhosts.Normalize(f.addr())}, rsaSigner.PublicKey())
	c, err := Dial(t.Context(), o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
}

func startAgent(t *testing.T, f *fixture) string {
	t.Helper()
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: f.clientPriv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return sock
}

// silentListener accepts connections and never sends a byte.
func silentListener(t *testing.T) int {
	return serveLoopback(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

// closingListener accepts connections and closes them at once.
func closingListener(t *testing.T) int {
	return serveLoopback(t, func(net.Conn) {})
}

func serveLoopback(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

func contextWithCancelAfter(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	tm := time.AfterFunc(d, cancel)
	return ctx, func() { tm.Stop(); cancel() }
}
