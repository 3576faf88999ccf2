package sshconn

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/clipbridge/clipbridge/internal/sshserver"
)

// fixture is an in-process SSH server plus client options that trust it.
type fixture struct {
	srv        *sshserver.Server
	host       string
	port       int
	hostKey    ssh.Signer
	clientPriv ed25519.PrivateKey
	clientKey  ssh.Signer
	clientPEM  []byte
}

// newServer builds a server (not listening) that accepts a fresh client key.
func newServer(t *testing.T, extraHostKeys ...ssh.Signer) *fixture {
	t.Helper()
	hostKey, _, err := sshserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sshserver.New(sshserver.Options{HostKey: hostKey, ExtraHostKeys: extraHostKeys, AuthorizedKey: clientKey.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &fixture{srv: srv, hostKey: hostKey, clientPriv: priv, clientKey: clientKey, clientPEM: pem.EncodeToMemory(block)}
}

// newFixture starts a server on a loopback TCP port.
func newFixture(t *testing.T, extraHostKeys ...ssh.Signer) *fixture {
	t.Helper()
	f := newServer(t, extraHostKeys...)
	addr, err := f.srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.host = "127.0.0.1"
	f.port = addr.(*net.TCPAddr).Port
	return f
}

func (f *fixture) addr() string { return net.JoinHostPort(f.host, strconv.Itoa(f.port)) }

// options trusts the server and authenticates with the generated key, in an
// empty environment so the developer's own ~/.ssh and agent never leak in.
func (f *fixture) options() Options {
	return Options{
		Host:           f.host,
		Port:           f.port,
		User:           "tester",
		KeyPEM:         f.clientPEM,
		KnownHosts:     f.srv.KnownHostsLine(f.addr()),
		Getenv:         func(string) string { return "" },
		ConnectTimeout: 5 * time.Second,
	}
}

// encryptedPEM returns the client key encrypted with passphrase.
func (f *fixture) encryptedPEM(t *testing.T, passphrase []byte) []byte {
	t.Helper()
	block, err := ssh.MarshalPrivateKeyWithPassphrase(f.clientPriv, "", passphrase)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}
