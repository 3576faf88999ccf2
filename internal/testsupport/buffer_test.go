package testsupport

import (
	"strings"
	"sync"
	"testing"
)

// Concurrent writers and readers: run with -race, which reports the
// unlocked bytes.Buffer this replaces.
func TestLockedBufferConcurrent(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 800) {
		t.Fatalf("len(String()) = %d, want 800", len(got))
	}
}
