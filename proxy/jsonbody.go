package proxy

import (
	"net/http"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// requireJSONBody relays bodies only when they are JSON (or multipart on
// the attachment route). Paperclip's API takes nothing else from agents,
// and refusing other media types keeps form posts and similar
// cross-protocol tricks from reaching it. Body-less requests pass, whatever
// their Content-Type.
func requireJSONBody(rec *recorder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if policy.HasBody(r) && !policy.ContentTypeAllowed(r.Method, exchangeOf(r).path, r.Header.Get("Content-Type")) {
				rec.reject(r, reasonUnsupportedMedia)
				policy.WriteError(w, http.StatusUnsupportedMediaType, msgUnsupportedMedia)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
