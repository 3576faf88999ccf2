package policy

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// OutcomeHeader marks an answer whose mutation may or may not have been applied upstream; its
// value is then "indeterminate". Paperclip's gateway maps it to 409, and so do ours.
const OutcomeHeader = "X-Paperclip-Bridge-Outcome"

// errorBody is the bridge's JSON error body. Every refusal and failure the bridge answers
// itself, on any transport, has this shape: agents (and Paperclip's own tests) match on it.
type errorBody struct {
	Error     string `json:"error"`
	Outcome   string `json:"outcome,omitempty"`
	Retryable *bool  `json:"retryable,omitempty"`
}

// ErrorJSON is the body {"error": msg}.
func ErrorJSON(msg string) []byte { return marshal(errorBody{Error: msg}) }

// IndeterminateJSON is the body of an answer whose mutation may have been applied:
// {"error": msg, "outcome": "indeterminate", "retryable": false}.
func IndeterminateJSON(msg string) []byte {
	no := false
	return marshal(errorBody{Error: msg, Outcome: "indeterminate", Retryable: &no})
}

func marshal(b errorBody) []byte {
	out, _ := json.Marshal(b) // cannot fail: strings and a bool
	return out
}

// WriteError writes the bridge's JSON error body {"error": msg} with status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorJSON(msg))
}

// WriteIndeterminate answers a mutation whose outcome is unknown: the request reached upstream
// (or may have), so a retry could apply it twice. 409 plus OutcomeHeader tells both our and
// Paperclip's gateways, and the agent, not to retry.
func WriteIndeterminate(w http.ResponseWriter, msg string) {
	w.Header().Set(OutcomeHeader, "indeterminate")
	writeJSON(w, http.StatusConflict, IndeterminateJSON(msg))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
