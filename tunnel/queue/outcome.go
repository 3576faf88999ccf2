package queue

import "strings"

// OutcomeHeader marks an answer whose mutation may or may not have been applied upstream; its
// value is then "indeterminate". Envelope header names are lower-case, so this one is too.
// Paperclip's E2 gateway answers such an envelope with 409, and so does ours.
const OutcomeHeader = "x-paperclip-bridge-outcome"

// SafeMethod reports the methods a retry cannot apply twice (Paperclip's list). Both ends use it
// to choose between a retryable failure and the indeterminate 409 when an answer is lost.
func SafeMethod(m string) bool {
	switch strings.ToUpper(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}
