package cli

import (
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/tunnel/sshtunnel"
)

// commandFor describes the agent command run over the tunnel. The bridge
// token travels on the session's stdin (see sshtunnel.Command), never on
// the remote command line.
func commandFor(cfg *config.Config, sigs <-chan os.Signal, stdout, stderr io.Writer) sshtunnel.Command {
	return sshtunnel.Command{
		Argv:        cfg.Command,
		BridgeToken: cfg.BridgeToken.Reveal(),
		Stdin:       os.Stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		Signals:     sigs,
	}
}

func notifySignals(c chan<- os.Signal) {
	signal.Notify(c, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
}

func stopSignals(c chan<- os.Signal) { signal.Stop(c) }
