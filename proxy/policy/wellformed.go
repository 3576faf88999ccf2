// The well-formedness checks. The agent-facing HTTP listeners get these
// guarantees from net/http's request parser. The queue worker (and any
// later transport that builds an *http.Request itself from data the sandbox
// wrote) gets them nowhere else: a header value holding "\r\n" there once
// became a second, smuggled request on the upstream connection, carrying
// the real run credential. So the rule is stated once, here, as "what
// net/http's parser would have produced", and checked at each entrance and
// again at the exit.

package policy

import (
	"errors"
	"net/http"
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// Why a request is not well-formed. ErrTarget is kept apart because the
// bridge answers it with its own message ("Invalid request path.").
var (
	ErrMethod = errors.New("method is not an HTTP token")
	ErrTarget = errors.New("request target is not in origin form or holds a control byte or space")
	ErrHeader = errors.New("header name is not a token or header value holds a control byte")
)

// ValidMethod reports whether m is an RFC 9110 token, as net/http requires
// of a request method. A token is exactly what a header field name may be.
func ValidMethod(m string) bool { return httpguts.ValidHeaderFieldName(m) }

// ValidTarget reports whether t is a request target net/http's server
// would read off a request line in origin form: it starts with '/', and
// holds no byte below 0x21 (controls and the space that ends the target)
// and no DEL; and url.ParseRequestURI, which net/http runs on every
// target, accepts it (it refuses a bad percent-escape in the path). Bytes
// from 0x80 up pass, as they do in net/http; whether a path is canonical
// is a stricter, separate question (ParseTarget).
func ValidTarget(t string) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c < 0x21 || c == 0x7f {
			return false
		}
	}
	_, err := url.ParseRequestURI(t)
	return err == nil
}

// ValidHeader reports whether every field name in h is a token and every
// value is one net/http would accept: no CR, LF, NUL or other control byte
// (horizontal tab allowed).
func ValidHeader(h http.Header) bool {
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// ValidCredential reports whether s can be sent as a credential header
// value byte for byte: non-empty visible ASCII, no space. Run tokens, run
// ids and bridge tokens must all be this.
func ValidCredential(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// Check reports the first way r falls short of a request net/http's
// server would have handed a handler: its method, its target (RequestURI,
// or the URL's when RequestURI is empty), and its header fields.
func Check(r *http.Request) error {
	if !ValidMethod(r.Method) {
		return ErrMethod
	}
	target := r.RequestURI
	if target == "" && r.URL != nil {
		target = r.URL.RequestURI()
	}
	if !ValidTarget(target) {
		return ErrTarget
	}
	if !ValidHeader(r.Header) {
		return ErrHeader
	}
	return nil
}
