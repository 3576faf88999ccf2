package sshconn

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Dial connects, verifies the host key, authenticates and starts the
// keepalive watchdog. Every failure is an *Error. The returned Conn must be
// closed by the caller.
func Dial(ctx context.Context, opts Options) (*Conn, error) {
	if err := opts.Validate(); err != nil {
		return nil, &Error{Kind: KindConfig, Addr: opts.Addr(), Err: err}
	}
	o := opts.withDefaults()
	addr := o.Addr()

	hk, err := newHostKeyChecker(o)
	if err != nil {
		return nil, err
	}
	creds, err := loadCredentials(o)
	if err != nil {
		return nil, err
	}
	defer creds.close()

	cfg := &ssh.ClientConfig{
		User:              o.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(creds.signers...)},
		HostKeyCallback:   hk.check(o),
		HostKeyAlgorithms: hk.algorithms,
		Timeout:           o.ConnectTimeout,
		ClientVersion:     "SSH-2.0-clipbridge",
	}

	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	start := time.Now()
	nc, err := o.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &Error{Kind: KindUnreachable, Addr: addr, Detail: unreachableDetail(err), Err: err}
	}
	// The handshake runs on a blocking conn; closing it is the only way to
	// honour ctx and the connect timeout while it is in progress.
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if !stop() || err != nil {
		_ = nc.Close()
		if err == nil {
			_ = cc.Close()
			err = ctx.Err()
		}
		return nil, classifyHandshake(ctx, addr, o.User, creds.tried, err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	o.Logger.Debug("ssh connected", "addr", addr, "user", o.User,
		"handshake_seconds", time.Since(start).Seconds(), "server_version", string(client.ServerVersion()))
	return newConn(client, o), nil
}

// classifyHandshake turns an ssh.NewClientConn error into an *Error.
func classifyHandshake(ctx context.Context, addr, user string, tried []string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		// A host key verdict from our callback.
		return e
	}
	if ctx.Err() != nil {
		return &Error{Kind: KindHandshake, Addr: addr,
			Detail: "no ssh handshake before the connect timeout (is this an SSH server, and is the network path up?)", Err: ctx.Err()}
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return &Error{Kind: KindAuth, Addr: addr, Detail: authDetail(user, tried), Err: err}
	}
	return &Error{Kind: KindHandshake, Addr: addr, Err: err}
}

func unreachableDetail(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return "cannot resolve the host name"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "tcp connect timed out (host down, firewall dropping packets, or wrong address)"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused (is sshd running and listening on this port?)"
	default:
		return "tcp connect failed"
	}
}
