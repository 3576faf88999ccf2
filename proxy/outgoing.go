package proxy

import (
	"errors"
	"net/http"

	"golang.org/x/net/http/httpguts"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// errMalformedOutgoing is the forwarder's refusal to send a request whose
// head would not be exactly one well-formed request on the wire.
var errMalformedOutgoing = errors.New("refused to send: the upstream request head would be malformed")

// checkOutgoing is the last look at every byte the agent influenced, and
// at the credential, before they are written upstream. Every entrance
// already refuses what net/http's parser would refuse (requireWellFormed),
// so this never fires unless a transport or a rotated credential is
// broken; it is here because a line break slipping through would put a
// second request, carrying the run JWT, on the upstream connection.
func (f *forwarder) checkOutgoing(r *http.Request, ex *exchange, token string) error {
	target := f.prefix + ex.path
	if ex.hasQuery {
		target += "?" + ex.rawQuery
	}
	if !policy.ValidMethod(r.Method) || !policy.ValidTarget(target) ||
		!policy.ValidCredential(token) || !policy.ValidCredential(f.runID) {
		return errMalformedOutgoing
	}
	for _, k := range upHeaders {
		for _, v := range r.Header[k] {
			if !httpguts.ValidHeaderFieldValue(v) {
				return errMalformedOutgoing
			}
		}
	}
	return nil
}
