package proxy

import (
	"log/slog"
	"net/http"
	"time"
)

// Agent-facing server limits. Agents send small JSON calls with their
// head at once; everything else here is a bound on a client that does not.
const (
	// readHeaderTimeout cuts off a request head trickled in (slowloris).
	readHeaderTimeout = 10 * time.Second
	// agentIdleTimeout closes a keep-alive connection no request came on; over
	// the SSH forward each one pins a channel and its window buffers.
	agentIdleTimeout = 120 * time.Second
	// maxHeaderBytes bounds a request head; Paperclip's calls are small.
	maxHeaderBytes = 64 << 10
	// writeBackstopSlack is added to the upstream timeout for the
	// server's own write deadline, a backstop only: the handler arms
	// its own deadline for each write to the agent (armWrite), which
	// replaces the server's.
	writeBackstopSlack = 30 * time.Second
)

// NewServer is the net/http server of the callback API, for every
// listener the agent reaches it on (the local listener and the SSH
// forward alike): one configuration, every timeout set here.
//
// There is deliberately no ReadTimeout, a bound on the whole request: a
// large upload may take long, and the handler bounds each body read
// instead (the stall timeout, see cappedBody), which also bounds a
// trickled body. A refused request whose body was not read is answered
// at once and its connection closed without draining it (see
// exchange.WriteHeader).
func (h *Handler) NewServer(log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		WriteTimeout:      h.fwd.timeout + writeBackstopSlack,
		IdleTimeout:       agentIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// "OPTIONS *" would otherwise be answered 200 by net/http itself;
		// the bridge refuses every non-origin-form target with its own 400.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
