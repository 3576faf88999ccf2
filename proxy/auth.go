package proxy

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// BridgeTokenMatches reports whether an Authorization header value carries
// the bridge token. The scheme must be exactly "Bearer " (case and single
// space, as Paperclip's gateway checks it). Lengths are compared first,
// which leaks only the token's length (fixed at 32 characters for
// generated tokens); the bytes are compared in constant time.
func BridgeTokenMatches(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" || len(got) != len(token) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// requireBridgeToken is the first check of the callback API: nothing else,
// not even the path rules, is evaluated for an unauthenticated caller.
func requireBridgeToken(token string, rec *recorder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !BridgeTokenMatches(r.Header.Get("Authorization"), token) {
				rec.reject(r, reasonUnauthorized)
				WriteError(w, http.StatusUnauthorized, msgInvalidToken)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
