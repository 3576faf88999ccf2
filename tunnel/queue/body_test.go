package queue

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

var bodyCases = []struct {
	name     string
	text     string
	present  bool
	encoding string
	max      int64
	want     string
	err      error
}{
	{"utf8 implicit", `{"a":1}`, true, "", 64, `{"a":1}`, nil},
	{"utf8 explicit", "héllo", true, "utf8", 64, "héllo", nil},
	{"empty", "", true, "", 0, "", nil},
	{"not a string", "", false, "", 64, "", ErrInvalidBody},
	{"utf8 over max", "abcdef", true, "", 5, "", ErrBodyTooLarge},
	{"base64", "aGVsbG8=", true, "base64", 64, "hello", nil},
	{"base64 binary", "/w==", true, "base64", 64, "\xff", nil},
	{"base64 at max", "YWJj", true, "base64", 3, "abc", nil},
	{"base64 over max decoded", "YWJjZA==", true, "base64", 3, "", ErrBodyTooLarge},
	{"base64 over max length", "YWJjZGVmZ2g=", true, "base64", 3, "", ErrBodyTooLarge},
	{"noncanonical padding bits", "YR==", true, "base64", 64, "", ErrInvalidBase64},
	{"missing padding", "YQ", true, "base64", 64, "", ErrInvalidBase64},
	{"url alphabet", "-_-_", true, "base64", 64, "", ErrInvalidBase64},
	{"whitespace", "YW Jj", true, "base64", 64, "", ErrInvalidBase64},
	{"newline", "YWJj\n", true, "base64", 64, "", ErrInvalidBase64},
	{"three pads", "Y===", true, "base64", 64, "", ErrInvalidBase64},
	{"pad in middle", "YQ==YQ==", true, "base64", 64, "", ErrInvalidBase64},
	{"hex encoding", "00", true, "hex", 64, "", ErrUnsupportedEncoding},
}

func TestDecodeBody(t *testing.T) {
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBody(tc.text, tc.present, tc.encoding, tc.max)
			if !errors.Is(err, tc.err) || (err == nil && string(got) != tc.want) {
				t.Fatalf("DecodeBody = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestEncodeBody(t *testing.T) {
	for _, b := range [][]byte{nil, []byte(`{"ok":true}`), []byte("héllo"), {0xff, 0xfe, 0}, []byte("a\x00b")} {
		text, enc := EncodeBody(b)
		got, err := DecodeBody(text, true, enc, 1<<20)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip %q: %q %v", b, got, err)
		}
		if (enc == "") != (string(b) == text) {
			t.Fatalf("plain text must be written as is: %q -> %q %q", b, text, enc)
		}
	}
}

// FuzzDecodeBody checks the §4.3 rules: no panic, the size cap always holds, and accepted base64
// is canonical (re-encodes to exactly the input).
func FuzzDecodeBody(f *testing.F) {
	for _, tc := range bodyCases {
		f.Add(tc.text, tc.encoding, tc.max)
	}
	f.Fuzz(func(t *testing.T, text, encoding string, max int64) {
		if max < 0 || max > 1<<20 {
			return
		}
		b, err := DecodeBody(text, true, encoding, max)
		if err != nil {
			return
		}
		if int64(len(b)) > max {
			t.Fatalf("decoded %d bytes over max %d", len(b), max)
		}
		if encoding == EncodingBase64 && base64.StdEncoding.EncodeToString(b) != text {
			t.Fatalf("accepted non-canonical base64 %q", text)
		}
	})
}
