package proxy

import (
	"errors"
	"net/http"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// msgMalformed answers a request whose method or header fields net/http's
// parser would have refused. It is the queue worker's message for an
// unusable envelope, the one way such a request can reach this handler.
const msgMalformed = "Invalid bridge request payload."

// requireWellFormed refuses, before anything else reads the request, one
// that net/http's own parser could not have produced (see policy.Check).
// Requests read off a connection by net/http always pass; the check is for
// transports that build requests themselves, so that none of them can hand
// the forwarder a header value or target with a line break in it.
func requireWellFormed(rec *recorder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := policy.Check(r); err != nil {
				if errors.Is(err, policy.ErrTarget) {
					rec.reject(r, reasonInvalidPath)
					policy.WriteError(w, http.StatusBadRequest, msgInvalidPath)
					return
				}
				rec.reject(r, reasonMalformed)
				policy.WriteError(w, http.StatusBadRequest, msgMalformed)
				return
			}
			if !r.ProtoAtLeast(1, 1) {
				// RFC 9112 section 6.1: an HTTP/1.0 message with
				// Transfer-Encoding has faulty framing, and the connection
				// must close after the answer. net/http drops that header
				// from an HTTP/1.0 request before any handler sees it, so
				// every HTTP/1.0 connection closes after one answer (agents
				// speak HTTP/1.1; nothing real is lost).
				w.Header().Set("Connection", "close")
			}
			next.ServeHTTP(w, r)
		})
	}
}
