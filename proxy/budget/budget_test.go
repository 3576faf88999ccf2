package budget

import (
	"sync"
	"testing"
)

func TestHold(t *testing.T) {
	b := New(100)
	h := b.NewHold()
	if !h.Grow(60) || h.Grow(50) || b.Available() != 40 || h.Held() != 60 {
		t.Fatalf("after 60 and a refused 50: available %d, held %d", b.Available(), h.Held())
	}
	h.Force(70)
	if b.Available() != -30 || b.Reserve(1) {
		t.Fatalf("after forcing 70: available %d", b.Available())
	}
	h.Shrink(100)
	if b.Available() != 70 || h.Held() != 30 {
		t.Fatalf("after shrinking 100: available %d, held %d", b.Available(), h.Held())
	}
	h.Release()
	if b.Available() != 100 || h.Held() != 0 {
		t.Fatalf("after release: available %d, held %d", b.Available(), h.Held())
	}
	var unlimited *Hold
	if !unlimited.Grow(1 << 40) {
		t.Fatal("a nil hold refused")
	}
	unlimited.Release()
}

func TestReserveConcurrent(t *testing.T) {
	b := New(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 50 {
		wg.Go(func() {
			for range 100 {
				if b.Reserve(1) {
					mu.Lock()
					got++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if got != 1000 || b.Available() != 0 {
		t.Fatalf("reserved %d, available %d", got, b.Available())
	}
}
