package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"
)

// timeLayout is JavaScript's Date.toISOString(): UTC, exactly three fractional digits, "Z".
const timeLayout = "2006-01-02T15:04:05.000Z"

// formatTime renders t the way Paperclip writes createdAt and completedAt.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Request is a request envelope, `requests/<id>.json` (reference §4.1), plus our MAC field.
type Request struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	// BodyEncoding is "" (absent: UTF-8 text) or EncodingBase64.
	BodyEncoding string `json:"bodyEncoding,omitempty"`
	CreatedAt    string `json:"createdAt"`
	// MAC is our gateway's HMAC-SHA256 of the other fields (see mac.go); Paperclip ignores it.
	MAC string `json:"hmac,omitempty"`

	// bodyPresent records that "body" was a JSON string; DecodeBody needs it.
	bodyPresent bool
}

// Response is a response envelope, `responses/<id>.json` (reference §4.2).
type Response struct {
	ID           string            `json:"id"`
	Status       int               `json:"status"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	BodyEncoding string            `json:"bodyEncoding,omitempty"`
	CompletedAt  string            `json:"completedAt"`
}

// ErrInvalidEnvelope reports a request file that is not a usable envelope. The worker answers it
// with 400 "Invalid bridge request payload.".
var ErrInvalidEnvelope = errors.New("invalid bridge request envelope")

// rawRequest accepts any JSON types so that a wrong type is reported, not silently zeroed.
type rawRequest struct {
	ID           any             `json:"id"`
	Method       any             `json:"method"`
	Path         any             `json:"path"`
	Query        any             `json:"query"`
	Headers      map[string]any  `json:"headers"`
	Body         json.RawMessage `json:"body"`
	BodyEncoding any             `json:"bodyEncoding"`
	CreatedAt    any             `json:"createdAt"`
	MAC          any             `json:"hmac"`
}

// DecodeRequest parses a request file the way Paperclip's worker reads it: one JSON object with
// string fields. Missing optional strings become ""; a method is trimmed and upper-cased, empty
// meaning GET; non-string header values are dropped (fetch would have ignored them too). A body
// that is not a JSON string, or a non-string bodyEncoding, makes the envelope invalid.
func DecodeRequest(data []byte) (*Request, error) {
	var raw rawRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, errors.Join(ErrInvalidEnvelope, err)
	}
	if dec.More() {
		return nil, errors.Join(ErrInvalidEnvelope, errors.New("trailing data"))
	}
	r := &Request{Headers: map[string]string{}}
	var ok bool
	str := func(v any) (string, bool) {
		if v == nil {
			return "", true
		}
		s, isStr := v.(string)
		return s, isStr
	}
	fields := []struct {
		dst *string
		v   any
	}{{&r.ID, raw.ID}, {&r.Method, raw.Method}, {&r.Path, raw.Path}, {&r.Query, raw.Query},
		{&r.BodyEncoding, raw.BodyEncoding}, {&r.CreatedAt, raw.CreatedAt}, {&r.MAC, raw.MAC}}
	for _, f := range fields {
		if *f.dst, ok = str(f.v); !ok {
			return nil, errors.Join(ErrInvalidEnvelope, errors.New("field is not a string"))
		}
	}
	r.Method = strings.ToUpper(strings.TrimSpace(r.Method))
	if r.Method == "" {
		r.Method = "GET"
	}
	for k, v := range raw.Headers {
		if s, isStr := v.(string); isStr {
			lk := strings.ToLower(k)
			if _, dup := r.Headers[lk]; dup {
				// "Accept" and "accept" both: which one wins would depend on map order.
				return nil, errors.Join(ErrInvalidEnvelope, errors.New("a header is named twice"))
			}
			r.Headers[lk] = s
		}
	}
	if len(raw.Body) > 0 && raw.Body[0] == '"' {
		if err := json.Unmarshal(raw.Body, &r.Body); err != nil {
			return nil, errors.Join(ErrInvalidEnvelope, err)
		}
		r.bodyPresent = true
	}
	return r, nil
}

// DecodedBody returns the request body bytes (reference §4.3).
func (r *Request) DecodedBody(maxBody int64) ([]byte, error) {
	return DecodeBody(r.Body, r.bodyPresent, r.BodyEncoding, maxBody)
}

// Marshal renders the envelope as one JSON line plus "\n", as Paperclip writes it. HTML
// escaping is off so the bytes match JSON.stringify's.
func marshalLine(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends the "\n"
		return nil, err
	}
	return b.Bytes(), nil
}

// fileNameRE is what both ends list and act on: a plain name ending in .json. Anything else
// (temp files, names with shell or path characters) is ignored, which also keeps names safe to
// pass through the co-process protocol.
var fileNameRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*\.json$`)

// validName reports whether a request file name is one the worker handles.
func validName(name string) bool { return len(name) <= 200 && fileNameRE.MatchString(name) }

// idFromName is the envelope id Paperclip falls back to when a file cannot be parsed.
func idFromName(name string) string { return strings.TrimSuffix(name, ".json") }
