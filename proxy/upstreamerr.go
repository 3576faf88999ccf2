package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Upstream failure kinds, the values of the "kind" label.
const (
	kindConnect = "connect" // nothing was sent: the call is safe to retry
	kindTimeout = "timeout"
	kindReset   = "reset"
	kindOther   = "other"
)

// classify names an upstream failure. sent reports whether any part of
// the request may have reached upstream; if not, the failure is a connect
// failure whatever its cause, because the distinction that matters to the
// agent is whether retrying could apply a mutation twice.
func classify(err error, sent bool) string {
	switch {
	case !sent:
		return kindConnect
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return kindTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return kindReset
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return kindTimeout
	}
	return kindOther
}

// isTimeout reports an error that is a deadline passing, not a failure.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
