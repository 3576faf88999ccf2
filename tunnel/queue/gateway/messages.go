package gateway

// The gateway's own messages, exactly as Paperclip's gateway words them (reference §5): agents
// and Paperclip's tests match on these strings.
const (
	msgInvalidToken         = "Invalid bridge token."
	msgInvalidPath          = "Invalid request path."
	msgQueueFull            = "Bridge request queue is full."
	msgUnsupportedMedia     = "Bridge only accepts JSON request bodies."
	msgBodyTooLarge         = "Bridge request body exceeded the configured size limit."
	msgLedgerFull           = "The bridge gateway process reached its reserved body byte ceiling. Retry later."
	msgTimedOut             = "Timed out waiting for host bridge response."
	msgResponseEnvelopeSize = "Bridge response envelope exceeded the configured size limit."
	msgResponseChanged      = "Bridge response envelope changed while reading."
)
