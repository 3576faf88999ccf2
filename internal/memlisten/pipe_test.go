package memlisten

import (
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// Both ends may write before either reads, as two SSH peers do with their
// version banners; net.Pipe would deadlock here.
func TestPipeBothWriteFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe()
		defer a.Close()
		defer b.Close()
		for _, c := range []net.Conn{a, b} {
			if _, err := c.Write([]byte("SSH-2.0-x\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []net.Conn{a, b} {
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != "SSH-2.0-x\r\n" {
				t.Fatalf("Read = %q, %v", buf[:n], err)
			}
		}
	})
}

// A Read waits (durably, as synctest sees it) for the peer's Write.
func TestPipeReadWaitsForWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe()
		defer a.Close()
		got := make(chan string, 1)
		go func() {
			buf := make([]byte, 8)
			n, _ := b.Read(buf)
			got <- string(buf[:n])
		}()
		synctest.Wait()
		select {
		case s := <-got:
			t.Fatalf("Read returned %q before any Write", s)
		default:
		}
		if _, err := a.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != "ping" {
			t.Fatalf("Read = %q, want ping", s)
		}
	})
}

// Close on either end ends both directions: buffered data is still read,
// then io.EOF; writes fail with net.ErrClosed; a blocked Read is released.
func TestPipeClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe()
		if _, err := a.Write([]byte("last words")); err != nil {
			t.Fatal(err)
		}
		blocked := make(chan error, 1)
		go func() {
			_, err := a.Read(make([]byte, 8))
			blocked <- err
		}()
		synctest.Wait()
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-blocked; !errors.Is(err, io.EOF) {
			t.Fatalf("blocked Read after Close = %v, want io.EOF", err)
		}
		b2, err := io.ReadAll(b)
		if err != nil || string(b2) != "last words" {
			t.Fatalf("peer read %q, %v", b2, err)
		}
		for name, c := range map[string]net.Conn{"closer": a, "peer": b} {
			if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s Write after Close = %v, want net.ErrClosed", name, err)
			}
		}
	})
}

// Deadlines are accepted and ignored (synctest's clock drives the callers'
// own timers instead), and both addresses say "mem".
func TestPipeDeadlinesAndAddrs(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	past := time.Now().Add(-time.Hour)
	for _, set := range []func(time.Time) error{a.SetDeadline, a.SetReadDeadline, a.SetWriteDeadline} {
		if err := set(past); err != nil {
			t.Fatalf("set deadline: %v", err)
		}
	}
	if _, err := a.Write([]byte("still works")); err != nil {
		t.Fatalf("Write past a deadline: %v", err)
	}
	for _, addr := range []net.Addr{a.LocalAddr(), a.RemoteAddr()} {
		if addr.Network() != "mem" || addr.String() != "mem" {
			t.Errorf("addr = %s/%s, want mem/mem", addr.Network(), addr.String())
		}
	}
}
