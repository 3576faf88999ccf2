package gateway

import "testing"

// FuzzParseResponse: the gateway's response parser never panics on any file content.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{`{"id":"a","status":200,"headers":{"etag":"x"},"body":"ok","completedAt":"z"}`,
		`{"status":"x","body":1}`, `{"id":"x",`, `{"body":"YR==","bodyEncoding":"base64"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := parseResponse(data)
		if err == nil && resp.Headers == nil {
			t.Fatal("nil headers")
		}
	})
}
