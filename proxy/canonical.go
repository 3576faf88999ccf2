package proxy

import (
	"net/http"
	"strings"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// canonicalTarget refuses any request target that is not canonical origin
// form (see ParseTarget) with 400 and records the split path and query.
// It reads RequestURI, the target exactly as the client sent it, because
// r.URL has already been decoded and would hide %2f or %2e.
func canonicalTarget(rec *recorder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			target := r.RequestURI
			if target == "" {
				// A request built in-process (queue worker, tests) rather
				// than read off a connection.
				target = r.URL.RequestURI()
			}
			path, rawQuery, err := policy.ParseTarget(target)
			if err != nil || r.Method == http.MethodConnect {
				rec.reject(r, reasonInvalidPath)
				policy.WriteError(w, http.StatusBadRequest, msgInvalidPath)
				return
			}
			ex := exchangeOf(r)
			ex.path, ex.rawQuery = path, rawQuery
			ex.hasQuery = strings.IndexByte(target, '?') >= 0
			next.ServeHTTP(w, r)
		})
	}
}
