package queue

import (
	"encoding/base64"
	"errors"
	"unicode/utf8"
)

// Body codec errors. Their texts are Paperclip's (reference §4.3), which is why they read like
// sentences: they travel in JSON error bodies to agents that may match on them.
var (
	ErrBodyTooLarge        = errors.New("Bridge body exceeded the configured size limit.")
	ErrInvalidBody         = errors.New("Invalid bridge body.")
	ErrUnsupportedEncoding = errors.New("Unsupported bridge body encoding.")
	ErrInvalidBase64       = errors.New("Invalid bridge base64 body.")
)

// Body encodings of an envelope's bodyEncoding field. A missing field means EncodingUTF8.
const (
	EncodingUTF8   = "utf8"
	EncodingBase64 = "base64"
)

// EnvelopeLimit is the largest envelope file accepted for a body cap of maxBody bytes: JSON
// escaping can turn one byte into six characters (\u00XX), plus 64 KiB for the other fields.
func EnvelopeLimit(maxBody int64) int64 { return 6*maxBody + 64<<10 }

// EncodeBody renders body for an envelope: valid UTF-8 as the plain string with no encoding (so
// an E1 peer, which ignores bodyEncoding, reads it right), anything else as standard base64 with
// encoding EncodingBase64 (only E2-or-later peers understand that).
func EncodeBody(body []byte) (text, encoding string) {
	if utf8.Valid(body) {
		return string(body), ""
	}
	return base64.StdEncoding.EncodeToString(body), EncodingBase64
}

// DecodeBody returns the bytes of an envelope body under Paperclip's E2 rules. present reports
// whether the JSON field was a string at all; encoding is the bodyEncoding field ("" if absent).
// Base64 must be canonical: padded, in the standard alphabet, with zero padding bits, and no
// longer than maxBody once decoded.
func DecodeBody(text string, present bool, encoding string, maxBody int64) ([]byte, error) {
	if !present {
		return nil, ErrInvalidBody
	}
	switch encoding {
	case "", EncodingUTF8:
		if int64(len(text)) > maxBody {
			return nil, ErrBodyTooLarge
		}
		return []byte(text), nil
	case EncodingBase64:
	default:
		return nil, ErrUnsupportedEncoding
	}
	// Checked before decoding so a huge string costs nothing.
	if int64(len(text)) > 4*((maxBody+2)/3) {
		return nil, ErrBodyTooLarge
	}
	if len(text)%4 != 0 || !canonicalAlphabet(text) {
		return nil, ErrInvalidBase64
	}
	// Strict rejects non-zero padding bits (e.g. "YR=="), which would not re-encode to the input.
	b, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		return nil, ErrInvalidBase64
	}
	if int64(len(b)) > maxBody {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}

// canonicalAlphabet reports text ~ ^[A-Za-z0-9+/]*={0,2}$.
func canonicalAlphabet(text string) bool {
	pad := 0
	for i := len(text) - 1; i >= 0 && text[i] == '=' && pad < 3; i-- {
		pad++
	}
	if pad > 2 {
		return false
	}
	for i := 0; i < len(text)-pad; i++ {
		c := text[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
