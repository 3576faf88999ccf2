package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
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

// outcomeHeader marks an answer whose mutation may or may not have been
// applied upstream. Paperclip's gateway maps it to 409, and so do we.
const outcomeHeader = "X-Paperclip-Bridge-Outcome"

// WriteError writes the bridge's JSON error body {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// writeIndeterminate answers a mutation whose outcome is unknown: the
// request reached upstream (or may have), so a retry could apply it twice.
// 409 plus the marker header tells both our and Paperclip's gateways, and
// the agent, not to retry.
func writeIndeterminate(w http.ResponseWriter, msg string) {
	w.Header().Set(outcomeHeader, "indeterminate")
	writeJSON(w, http.StatusConflict, errorBody{Error: msg, Outcome: "indeterminate", Retryable: ptr(false)})
}

// writeRetryLater answers 503 with a whole-second Retry-After.
func writeRetryLater(w http.ResponseWriter, msg string, seconds int) {
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	WriteError(w, http.StatusServiceUnavailable, msg)
}

type errorBody struct {
	Error     string `json:"error"`
	Outcome   string `json:"outcome,omitempty"`
	Retryable *bool  `json:"retryable,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func writeJSON(w http.ResponseWriter, status int, body errorBody) {
	b, _ := json.Marshal(body) // cannot fail: strings and a bool
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
