package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var decodeCases = []struct {
	name string
	in   string
	ok   bool
}{
	{"e1", `{"id":"1325527a-1111-4222-8333-444455556666","method":"GET","path":"/api/agents/me","query":"?view=compact","headers":{"accept":"application/json","if-none-match":"\"x\""},"body":"","createdAt":"2026-05-03T12:00:00.000Z"}`, true},
	{"e2 base64", `{"id":"a","method":"POST","path":"/x","query":"","headers":{"content-type":"multipart/form-data; boundary=b"},"body":"YWJj","bodyEncoding":"base64","createdAt":"2026-05-03T12:00:00.000Z"}`, true},
	{"ours with mac", `{"id":"a","method":"GET","path":"/x","query":"","headers":{},"body":"","createdAt":"x","hmac":"00"}`, true},
	{"missing optional", `{"body":""}`, true},
	{"header non-string dropped", `{"headers":{"a":1,"B":"x"},"body":""}`, true},
	{"truncated", `{"id":"a",`, false},
	{"not an object", `[1,2]`, false},
	{"trailing garbage", `{"body":""} {}`, false},
	{"method not a string", `{"method":5,"body":""}`, false},
	{"body object (rejected by DecodedBody)", `{"body":{"a":1}}`, true},
	{"encoding not a string", `{"body":"","bodyEncoding":1}`, false},
	{"empty", ``, false},
}

func TestDecodeRequest(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeRequest([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("DecodeRequest: %+v %v", r, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidEnvelope) {
				t.Fatalf("error %v is not ErrInvalidEnvelope", err)
			}
		})
	}
	r, _ := DecodeRequest([]byte(`{"method":" patch ","headers":{"If-Match":"x"},"body":""}`))
	if r.Method != "PATCH" || r.Headers["if-match"] != "x" {
		t.Fatalf("normalisation: %+v", r)
	}
	r, _ = DecodeRequest([]byte(`{"body":{"a":1}}`))
	if _, err := r.DecodedBody(64); !errors.Is(err, ErrInvalidBody) {
		t.Fatalf("object body: %v", err)
	}
	r, _ = DecodeRequest([]byte(`{"body":""}`))
	if r.Method != "GET" {
		t.Fatalf("empty method: %q", r.Method)
	}
}

func TestMAC(t *testing.T) {
	key := []byte("k")
	base := func() *Request {
		return &Request{ID: "i", Method: "POST", Path: "/p", Query: "?q", Headers: map[string]string{"a": "1", "b": "2"},
			Body: "body", CreatedAt: FormatTime(time.Unix(0, 0))}
	}
	r := base()
	r.Sign(key)
	if !r.VerifyMAC(key) || r.VerifyMAC([]byte("other")) {
		t.Fatal("sign/verify")
	}
	mutations := map[string]func(*Request){
		"id": func(r *Request) { r.ID = "j" }, "method": func(r *Request) { r.Method = "GET" },
		"path": func(r *Request) { r.Path = "/q" }, "query": func(r *Request) { r.Query = "" },
		"header value": func(r *Request) { r.Headers["a"] = "2" }, "header added": func(r *Request) { r.Headers["c"] = "" },
		"encoding": func(r *Request) { r.BodyEncoding = "utf8" }, "body": func(r *Request) { r.Body = "bodz" },
		"created": func(r *Request) { r.CreatedAt = "x" },
		// Shifting bytes between adjacent fields must not keep the MAC valid.
		"boundary": func(r *Request) { r.Path, r.Query = "/p?", "q" },
	}
	for name, mut := range mutations {
		m := base()
		m.MAC = r.MAC
		mut(m)
		if m.VerifyMAC(key) {
			t.Errorf("%s: MAC still valid", name)
		}
	}
}

// FuzzDecodeRequest: the decoder never panics, accepted envelopes have a non-empty upper-case
// method and lower-case header names, and a signed envelope still verifies after a marshal and
// decode round trip (the worker checks exactly what the gateway signed).
func FuzzDecodeRequest(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in))
	}
	key := []byte("fuzz-key")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if r.Method == "" || r.Method != strings.ToUpper(r.Method) {
			t.Fatalf("method %q", r.Method)
		}
		for k := range r.Headers {
			if k != strings.ToLower(k) {
				t.Fatalf("header %q", k)
			}
		}
		_, _ = r.DecodedBody(1 << 16)
		r.Sign(key)
		line, err := MarshalLine(r)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeRequest(line)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", line, err)
		}
		if !again.VerifyMAC(key) {
			t.Fatalf("MAC lost in round trip: %q", line)
		}
	})
}
