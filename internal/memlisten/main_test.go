package memlisten

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests park goroutines in Accept, Deliver and Read; every one must
// have been released by the end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
