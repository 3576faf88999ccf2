package memlisten

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
)

var testAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40022}

func TestAddr(t *testing.T) {
	l := New(testAddr)
	if l.Addr() != testAddr {
		t.Fatalf("Addr() = %v, want %v", l.Addr(), testAddr)
	}
	_ = l.Close()
	if l.Addr() != testAddr {
		t.Fatalf("Addr() after Close = %v, want %v", l.Addr(), testAddr)
	}
}

// Deliver hands over exactly the connection given, and only to a waiting
// Accept: until one comes, Deliver stays blocked.
func TestDeliverWaitsForAccept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(testAddr)
		defer l.Close()
		c, peer := Pipe()
		defer peer.Close()
		delivered := make(chan error, 1)
		go func() { delivered <- l.Deliver(c) }()
		synctest.Wait()
		select {
		case err := <-delivered:
			t.Fatalf("Deliver returned %v with no Accept waiting", err)
		default:
		}
		got, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if got != c {
			t.Fatalf("Accept returned %v, want the delivered connection", got)
		}
		if err := <-delivered; err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		_ = got.Close()
	})
}

// Close releases whatever is blocked, and everything after it fails with
// net.ErrClosed: a connection never strands inside a closed listener.
func TestCloseReleasesWaiters(t *testing.T) {
	cases := []struct {
		name  string
		block func(l *Listener) error
	}{
		{"accept", func(l *Listener) error { _, err := l.Accept(); return err }},
		{"deliver", func(l *Listener) error {
			c, peer := Pipe()
			defer peer.Close()
			err := l.Deliver(c)
			// A refused connection stays the caller's, still open.
			if _, werr := c.Write([]byte("x")); werr != nil {
				return werr
			}
			_ = c.Close()
			return err
		}},
		{"dial", func(l *Listener) error { _, err := l.Dial(); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name+" blocked", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := New(testAddr)
				done := make(chan error, 1)
				go func() { done <- tc.block(l) }()
				synctest.Wait()
				if err := l.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if err := <-done; !errors.Is(err, net.ErrClosed) {
					t.Fatalf("%s after Close = %v, want net.ErrClosed", tc.name, err)
				}
			})
		})
		t.Run(tc.name+" after close", func(t *testing.T) {
			l := New(testAddr)
			_ = l.Close()
			if err := l.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := tc.block(l); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("%s on a closed listener = %v, want net.ErrClosed", tc.name, err)
			}
		})
	}
}

// Connections already accepted outlive the listener.
func TestCloseKeepsAcceptedConns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(testAddr)
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				t.Error(err)
			}
			accepted <- c
		}()
		client, err := l.Dial()
		if err != nil {
			t.Fatal(err)
		}
		server := <-accepted
		_ = l.Close()
		if _, err := client.Write([]byte("after close")); err != nil {
			t.Fatalf("Write after listener Close: %v", err)
		}
		_ = client.Close()
		b, err := io.ReadAll(server)
		if err != nil || string(b) != "after close" {
			t.Fatalf("server read %q, %v", b, err)
		}
		_ = server.Close()
	})
}

// An http.Server serves on a Listener, reached through Dial, and Shutdown
// drains it: what the tunnel and its synctest tests rely on.
func TestServesHTTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(testAddr)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello "+r.URL.Path)
		})}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()
		tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return l.Dial() }}
		resp, err := (&http.Client{Transport: tr}).Get("http://mem/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.StatusCode != 200 || string(b) != "hello /x" {
			t.Fatalf("GET = %d %q", resp.StatusCode, b)
		}
		if err := srv.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("Serve = %v, want http.ErrServerClosed", err)
		}
	})
}
