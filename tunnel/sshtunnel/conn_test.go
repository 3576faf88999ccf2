package sshtunnel

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// noDeadlines hides net.Pipe's own deadlines, like x/crypto's channel
// connections, which refuse them.
type noDeadlines struct{ net.Conn }

func (noDeadlines) SetDeadline(time.Time) error      { return errors.New("deadline not supported") }
func (noDeadlines) SetReadDeadline(time.Time) error  { return errors.New("deadline not supported") }
func (noDeadlines) SetWriteDeadline(time.Time) error { return errors.New("deadline not supported") }

func pipeConn(t *testing.T) (*channelConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	c := newChannelConn(noDeadlines{a})
	t.Cleanup(func() {
		_ = c.Close()
		_ = b.Close()
	})
	return c, b
}

func TestChannelConnReadDeadlineKeepsData(t *testing.T) {
	c, peer := pipeConn(t)
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline = %v", err)
	}
	// A pending Read is interrupted, as http.Server does between requests.
	_ = c.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("interrupted Read = %v", err)
	}
	// Nothing was lost and the connection still works.
	_ = c.SetReadDeadline(time.Time{})
	go func() { _, _ = peer.Write([]byte("hello world")) }()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("Read = %q, %v", buf, err)
	}
	rest := make([]byte, 6)
	if _, err := io.ReadFull(c, rest); err != nil || string(rest) != " world" {
		t.Fatalf("Read = %q, %v", rest, err)
	}
	_ = peer.Close()
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("Read after peer close = %v, want EOF", err)
	}
}

func TestChannelConnReadTimeoutFires(t *testing.T) {
	c, _ := pipeConn(t)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) > 2*time.Second {
		t.Fatalf("Read = %v after %s, want a timeout after ~50ms", err, time.Since(start))
	}
}

func TestChannelConnWriteDeadlineAbortsBlockedWrite(t *testing.T) {
	c, _ := pipeConn(t) // the peer never reads: net.Pipe writes block
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Write([]byte("never read"))
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("Write = %v after %s, want deadline exceeded after ~50ms", err, time.Since(start))
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("Write after an aborted write succeeded")
	}
}

func TestChannelConnCloseUnblocksRead(t *testing.T) {
	c, _ := pipeConn(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = c.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Read after Close succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
}
