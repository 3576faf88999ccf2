package proxy

import (
	"net/http"
	"strconv"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// The exact strings agents (and Paperclip's own tests) match on. They are
// part of the wire contract; see the queue_v1 reference §5 and §6.
const (
	msgInvalidToken     = "Invalid bridge token."
	msgInvalidPath      = "Invalid request path."
	msgQueueFull        = "Bridge request queue is full."
	msgUnsupportedMedia = "Bridge only accepts JSON request bodies."
	msgRequestTooLarge  = "Bridge request body exceeded the configured size limit."
	msgBodyBudget       = "Bridge body capacity is busy. Retry later."
	msgUnreachable      = "Bridge could not reach the Paperclip API; the request was not sent."
	msgTimeout          = "Bridge timed out waiting for the Paperclip API."
	msgUpstreamFailed   = "Bridge lost the connection to the Paperclip API before the response completed."
	msgBodyStalled      = "Bridge stopped waiting for the rest of the request body."
	msgBodyMalformed    = "Bridge could not read the request body: its framing is malformed."
)

// writeRetryLater answers 503 with a whole-second Retry-After.
func writeRetryLater(w http.ResponseWriter, msg string, seconds int) {
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	policy.WriteError(w, http.StatusServiceUnavailable, msg)
}
