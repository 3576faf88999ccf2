package sshtunnel

import (
	"io"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkForwardedRequest measures keep-alive GETs through the tunnel and
// the in-process SSH server, with a 64 KiB response: the tunnel's own cost
// (channel wrapping, deadline handling) on top of x/crypto's SSH.
func BenchmarkForwardedRequest(b *testing.B) {
	body := make([]byte, 64<<10)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	p := newInproc(b, nil).listen(b)
	r := start(b, Options{SSH: p.sshOptions(), Server: serverFor(h)})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	url := r.URL() + "/bench"
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
