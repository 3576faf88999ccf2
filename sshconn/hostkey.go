package sshconn

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyChecker verifies the server's host key against known_hosts.
type hostKeyChecker struct {
	callback ssh.HostKeyCallback
	// algorithms are the host key algorithms matching keys already known for
	// this host; offering only those keeps a server that also has other key
	// types from presenting one we cannot verify.
	algorithms []string
	// sources names the known_hosts inputs, for error messages.
	sources []string
}

// newHostKeyChecker builds the verifier for addr. Host key checking fails
// closed: only InsecureIgnoreHostKey skips it.
func newHostKeyChecker(o Options) (*hostKeyChecker, error) {
	addr := o.Addr()
	if o.InsecureIgnoreHostKey {
		o.Logger.Warn("ssh host key verification disabled", "addr", addr)
		return &hostKeyChecker{callback: ssh.InsecureIgnoreHostKey()}, nil
	}
	var files, sources []string
	if o.KnownHostsFile != "" {
		if _, err := os.Stat(o.KnownHostsFile); err != nil {
			return nil, &Error{Kind: KindConfig, Addr: addr, Detail: "cannot read known_hosts file " + o.KnownHostsFile, Err: err}
		}
		files = append(files, o.KnownHostsFile)
		sources = append(sources, o.KnownHostsFile)
	}
	if o.KnownHosts != "" {
		// knownhosts only reads files; the text lives on the local host just
		// long enough to be parsed (it holds public keys only).
		f, err := os.CreateTemp("", "clipbridge-known-hosts-*")
		if err != nil {
			return nil, &Error{Kind: KindConfig, Addr: addr, Detail: "cannot stage known_hosts text", Err: err}
		}
		defer os.Remove(f.Name())
		_, werr := f.WriteString(o.KnownHosts + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, &Error{Kind: KindConfig, Addr: addr, Detail: "cannot stage known_hosts text", Err: werr}
		}
		files = append(files, f.Name())
		sources = append(sources, "the known_hosts text")
	}
	if len(files) == 0 {
		if home := o.Getenv("HOME"); home != "" {
			def := filepath.Join(home, ".ssh", "known_hosts")
			_, err := os.Stat(def)
			switch {
			case err == nil:
				files = append(files, def)
				sources = append(sources, def)
			case errors.Is(err, fs.ErrNotExist):
				sources = append(sources, def+" (missing)")
			default:
				return nil, &Error{Kind: KindConfig, Addr: addr, Detail: "cannot read known_hosts file " + def, Err: err}
			}
		} else {
			sources = append(sources, "nothing: no known_hosts was given and HOME is unset")
		}
	}
	cb := func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	if len(files) > 0 {
		var err error
		cb, err = knownhosts.New(files...)
		if err != nil {
			// knownhosts names the file, never a secret.
			return nil, &Error{Kind: KindConfig, Addr: addr, Detail: "cannot parse known_hosts", Err: err}
		}
	}
	hk := &hostKeyChecker{callback: cb, sources: sources}
	hk.algorithms = knownAlgorithms(cb, addr)
	return hk, nil
}

// check is the ssh.HostKeyCallback: it turns knownhosts' errors into
// classified *Error values with a fingerprint and a fix.
func (h *hostKeyChecker) check(o Options) ssh.HostKeyCallback {
	addr := o.Addr()
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if _, ok := remote.(*net.TCPAddr); !ok {
			// knownhosts insists on a TCP remote address even though it
			// prefers the host name; in-memory transports have none.
			remote = &net.TCPAddr{}
		}
		err := h.callback(hostname, remote, key)
		if err == nil {
			return nil
		}
		var keyErr *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case errors.As(err, &revoked):
			return &Error{Kind: KindHostKeyChanged, Addr: addr, Detail: fmt.Sprintf(
				"server offered %s %s, which is marked @revoked in %s; refusing to connect",
				key.Type(), ssh.FingerprintSHA256(key), revoked.Revoked.Filename)}
		case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
			return &Error{Kind: KindHostKeyUnknown, Addr: addr, Detail: unknownHostDetail(o, key, h.sources)}
		case errors.As(err, &keyErr):
			return &Error{Kind: KindHostKeyChanged, Addr: addr, Detail: changedHostDetail(o, key, keyErr.Want)}
		default:
			return &Error{Kind: KindHandshake, Addr: addr, Detail: "host key check failed", Err: err}
		}
	}
}

func unknownHostDetail(o Options, key ssh.PublicKey, sources []string) string {
	entry := knownhosts.Normalize(o.Addr())
	return fmt.Sprintf("server offered %s %s, which is not a known host (checked %s); verify this fingerprint with the host's administrator, "+
		"then trust it with `ssh-keyscan -p %d %s >> ~/.ssh/known_hosts` (or --ssh-known-hosts FILE), "+
		"or put this line in CLIPBRIDGE_SSH_KNOWN_HOSTS: %s",
		key.Type(), ssh.FingerprintSHA256(key), strings.Join(sources, ", "),
		o.Port, o.Host, knownhosts.Line([]string{entry}, key))
}

func changedHostDetail(o Options, key ssh.PublicKey, want []knownhosts.KnownKey) string {
	known := make([]string, 0, len(want))
	for _, w := range want {
		known = append(known, fmt.Sprintf("%s %s (%s:%d)", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
	}
	entry := knownhosts.Normalize(o.Addr())
	return fmt.Sprintf("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED: server offered %s %s but known_hosts has %s; "+
		"someone could be intercepting the connection (man-in-the-middle) or the host key was replaced; refusing to connect. "+
		"If the change is legitimate, remove the old entry with `ssh-keygen -R '%s'` and add the verified new key",
		key.Type(), ssh.FingerprintSHA256(key), strings.Join(known, ", "), entry)
}

// probeKey is a throwaway key that is never in any known_hosts file: checking
// it makes knownhosts list every key it knows for a host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	return k
})

// knownAlgorithms returns the host key algorithms for the key types known for
// addr, or nil (library defaults) when the host is not known at all.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	probe := probeKey()
	if probe == nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{}, probe); !errors.As(err, &keyErr) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, w := range keyErr.Want {
		for _, a := range algorithmsForKeyType(w.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// algorithmsForKeyType maps a key type to the signature algorithms a server
// may use with it; RSA keys sign with SHA-2 first.
func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}
