package testsupport

import (
	"net/http"
	"strings"
	"testing"
)

func TestUpstreamRecordsThenAnswers(t *testing.T) {
	u := NewUpstream(t, nil)
	resp, err := http.Post(u.URL+"/api/issues?x=1", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	teapot := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	resp2, body := Get(t, teapot.URL+"/x", Bearer("t"))
	got := u.Requests()
	if resp.StatusCode != 200 || len(got) != 1 || got[0].Method != "POST" || got[0].RequestURI != "/api/issues?x=1" ||
		string(got[0].Body) != `{"a":1}` || got[0].BodyErr != nil || got[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, recorded %+v", resp.StatusCode, got)
	}
	if resp2.StatusCode != http.StatusTeapot || body != "" || teapot.Requests()[0].Header.Get("Authorization") != "Bearer t" {
		t.Fatalf("handler's answer: %d %q", resp2.StatusCode, body)
	}
}
