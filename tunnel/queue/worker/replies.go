package worker

import (
	"net/http"
	"time"

	"github.com/clipbridge/clipbridge/proxy/policy"
	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// The worker's own messages, exactly as Paperclip words them (reference §6): agents and
// Paperclip's tests match on these strings.
const (
	msgInvalidPayload     = "Invalid bridge request payload."
	msgEnvelopeTooLarge   = "Bridge request envelope exceeded the configured size limit."
	msgBodyTooLarge       = "Bridge request body exceeded the configured size limit."
	msgWorkerStopped      = "Bridge worker stopped before request could be handled."
	msgWorkerFailedPrefix = "Sandbox callback bridge worker failed: "
	msgInvalidToken       = "Invalid bridge token."
	msgHandlerAborted     = "Bridge lost the connection to the Paperclip API before the response completed."
	msgInvalidPath        = "Invalid request path."
	msgBodyBudget         = "Bridge body capacity is busy. Retry later."
)

// errorResponse is a worker-made answer: {"error": msg} as application/json.
func errorResponse(id string, status int, msg string) queue.Response {
	return queue.Response{
		ID: id, Status: status,
		Headers:     map[string]string{"content-type": "application/json"},
		Body:        string(policy.ErrorJSON(msg)),
		CompletedAt: queue.FormatTime(time.Now()),
	}
}

// retryLaterResponse is the retryable 503 with a one-second Retry-After, as the callback
// handler answers while the body budget is exhausted.
func retryLaterResponse(id, msg string) queue.Response {
	r := errorResponse(id, http.StatusServiceUnavailable, msg)
	r.Headers["retry-after"] = "1"
	return r
}

// indeterminateResponse answers a mutation whose outcome is unknown. The status is 409 itself
// (not Paperclip's 504) so that an agent behind Paperclip's E1 gateway, which passes statuses
// through, is told not to retry as well; E2 gateways map the marker to 409 anyway.
func indeterminateResponse(id, msg string) queue.Response {
	return queue.Response{
		ID: id, Status: http.StatusConflict,
		Headers:     map[string]string{"content-type": "application/json", queue.OutcomeHeader: "indeterminate"},
		Body:        string(policy.IndeterminateJSON(msg)),
		CompletedAt: queue.FormatTime(time.Now()),
	}
}
