// Package sshconn holds one SSH client connection to the execution host:
// it authenticates the way an OpenSSH user expects (key file, key text,
// ssh-agent, default ~/.ssh/id_* files), verifies the host key against
// known_hosts and fails closed, and watches the link with
// keepalive@openssh.com requests so that a black-holed network is noticed
// in seconds instead of the kernel's minutes.
//
// Failures are returned as *Error values whose Kind tells the caller what
// went wrong (unreachable, authentication, unknown or changed host key, …);
// their messages name the fix and never contain key material.
//
// The package also provides POSIX shell quoting (Quote, Join) shared by the
// SSH tunnel and the SSH runner.
package sshconn
