package queue_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the end-to-end test leaves no goroutine of the worker or gateway behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
