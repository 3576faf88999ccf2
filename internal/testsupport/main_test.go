package testsupport

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

// TryGet must leave no connection goroutines behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fatalRecorder stands in for a test so a helper's failure can be checked:
// Fatal/Fatalf record the message and end the goroutine, as in a real test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Context() context.Context { return f.TB.Context() }

func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runHelper runs fn against a fatalRecorder and returns the failure
// message, empty if fn did not fail.
func runHelper(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}
