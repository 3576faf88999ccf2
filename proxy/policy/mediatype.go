package policy

import (
	"net/http"
	"regexp"
	"strings"
)

// attachmentUpload is the one route where Paperclip accepts multipart
// bodies (issue attachments). It is fixed, not configurable: a routes file
// decides what is reachable, not which body encodings are safe to relay.
var attachmentUpload = regexp.MustCompile(`^/api/companies/[^/]+/issues/[^/]+/attachments$`)

// HasBody reports whether the request carries a body: a declared length
// above zero, or an unknown (chunked) length. A zero-length POST has none,
// so the JSON-only rule does not apply to it.
func HasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

// ContentTypeAllowed reports whether a request body of the given media type
// may be relayed: JSON (application/json or any */*+json, case-insensitive,
// parameters allowed), or multipart/form-data on POST to the attachment
// upload route. Callers apply it only when HasBody is true.
func ContentTypeAllowed(method, path, contentType string) bool {
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	slash := strings.IndexByte(mt, '/')
	if slash <= 0 || slash == len(mt)-1 || strings.ContainsAny(mt, " \t,") {
		return false
	}
	if strings.EqualFold(mt, "application/json") {
		return true
	}
	sub := mt[slash+1:]
	if len(sub) > len("+json") && strings.EqualFold(sub[len(sub)-len("+json"):], "+json") {
		return true
	}
	return method == http.MethodPost && strings.EqualFold(mt, "multipart/form-data") &&
		attachmentUpload.MatchString(path)
}
