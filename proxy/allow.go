package proxy

import (
	"net/http"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// allowRoute forwards only method and path pairs on the allowlist, and
// names the matched rule for metrics. The 403 message echoes the path in
// its raw, as-sent form: it is the caller's own input.
func allowRoute(allow *allowlist, rec *recorder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ex := exchangeOf(r)
			route, ok := allow.Match(r.Method, ex.path)
			if !ok {
				rec.reject(r, reasonRouteDenied)
				policy.WriteError(w, http.StatusForbidden, "Route not allowed: "+r.Method+" "+ex.path)
				return
			}
			ex.route = route
			next.ServeHTTP(w, r)
		})
	}
}
