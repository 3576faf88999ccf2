package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// Header allowlists (reference §5.1 and §6.2). Everything else is dropped
// in each direction: cookies, forwarding headers, the agent's own
// Authorization, and any header the agent could use to steer upstream.
var (
	upHeaders   = []string{"Accept", "Content-Type", "If-Match", "If-None-Match", "X-Paperclip-Github-Capability"}
	downHeaders = []string{"Content-Type", "Etag", "Last-Modified", "X-Paperclip-Bridge-Outcome"}
)

// copyAllowed copies the allowlisted headers of src into dst, except those
// the sender named in Connection: a header listed there is hop-by-hop by
// the sender's own declaration and must not travel further.
func copyAllowed(dst, src http.Header, allowed []string) {
	conn := src["Connection"]
	for _, k := range allowed {
		vv, ok := src[k]
		if !ok || len(vv) == 0 || (len(conn) > 0 && namedIn(conn, k)) {
			continue
		}
		dst[k] = vv
	}
}

// namedIn reports whether a Connection header value lists name.
func namedIn(conn []string, name string) bool {
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(tok), name) {
				return true
			}
		}
	}
	return false
}
