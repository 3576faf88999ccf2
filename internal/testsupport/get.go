package testsupport

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// GetTimeout bounds a Get: a wedged server fails the test instead of
// hanging it until the go test timeout.
const GetTimeout = 10 * time.Second

// Bearer returns request headers carrying token as a bearer credential.
func Bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// Get sends a GET for url with header and returns the response and its
// body. A transport error fails the test; a body cut short is returned as
// far as it arrived (TryGet reports that error too). The exchange is
// bounded by GetTimeout and by the test's context.
func Get(t testing.TB, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	resp, body, err := TryGet(t.Context(), url, header, GetTimeout)
	if resp == nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// TryGet sends a GET for url with header within timeout and returns the
// response (its body already read and closed), the body, and any error, so
// polls, goroutines and requests expected to fail can use it. Each call
// uses a new connection and closes it: a connection pooled from before a
// reconnect or a restart would test the pool rather than the server, and
// would outlive the test.
func TryGet(ctx context.Context, url string, header http.Header, timeout time.Duration) (*http.Response, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}
