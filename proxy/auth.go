package proxy

import (
	"net/http"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// requireBridgeToken is the first check of the callback API: nothing else,
// not even the path rules, is evaluated for an unauthenticated caller.
func requireBridgeToken(token string, rec *recorder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !policy.BridgeTokenMatches(r.Header.Get("Authorization"), token) {
				rec.reject(r, reasonUnauthorized)
				policy.WriteError(w, http.StatusUnauthorized, msgInvalidToken)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
