package sshtunnel

import (
	"golang.org/x/crypto/ssh"

	"github.com/clipbridge/clipbridge/internal/sshserver"
)

func sshconnTestKey() (ssh.Signer, []byte, error) { return sshserver.GenerateKey() }
