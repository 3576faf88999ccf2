package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// timeLayout is JavaScript's Date.toISOString(): UTC, exactly three fractional digits, "Z".
const timeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime renders t the way Paperclip writes createdAt and completedAt.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

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
	ID           any            `json:"id"`
	Method       any            `json:"method"`
	Path         any            `json:"path"`
	Query        any            `json:"query"`
	Headers      map[string]any `json:"headers"`
	Body         bodyField      `json:"body"`
	BodyEncoding any            `json:"bodyEncoding"`
	CreatedAt    any            `json:"createdAt"`
	MAC          any            `json:"hmac"`
}

// DecodeRequest parses a request file the way Paperclip's worker reads it: one JSON object with
// string fields. Missing optional strings become ""; a method is trimmed and upper-cased, empty
// meaning GET; non-string header values are dropped (fetch would have ignored them too). A body
// that is not a JSON string, or a non-string bodyEncoding, makes the envelope invalid.
func DecodeRequest(data []byte) (*Request, error) {
	// Unmarshal, not a Decoder: it parses data in place (a Decoder first copies it into a buffer
	// of its own), and it refuses trailing data itself. An envelope may be tens of megabytes.
	var raw rawRequest
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errors.Join(ErrInvalidEnvelope, err)
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
	r.Body, r.bodyPresent = raw.Body.s, raw.Body.present
	return r, nil
}

// bodyField decodes the body member: a JSON string, straight from the envelope's bytes into one
// string (json.RawMessage would copy the member first). Any other JSON value leaves it absent,
// which DecodeBody refuses.
type bodyField struct {
	s       string
	present bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *bodyField) UnmarshalJSON(data []byte) error {
	if len(data) == 0 || data[0] != '"' {
		return nil
	}
	b.present = true
	return json.Unmarshal(data, &b.s)
}

// DecodedBody returns the request body bytes (reference §4.3).
func (r *Request) DecodedBody(maxBody int64) ([]byte, error) {
	return DecodeBody(r.Body, r.bodyPresent, r.BodyEncoding, maxBody)
}

// TextBody returns the body as the envelope holds it when that is the body itself: a JSON string
// with no bodyEncoding or "utf8". A reader can then serve it without copying it.
func (r *Request) TextBody() (string, bool) {
	if r.bodyPresent && (r.BodyEncoding == "" || r.BodyEncoding == EncodingUTF8) {
		return r.Body, true
	}
	return "", false
}

// MarshalLine renders an envelope as one JSON line plus "\n", as Paperclip writes it. HTML
// escaping is off so the bytes match JSON.stringify's.
func MarshalLine(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends the "\n"
		return nil, err
	}
	return b.Bytes(), nil
}
