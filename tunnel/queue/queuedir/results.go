package queuedir

import (
	"errors"
	"fmt"
)

// What the store operations report, in the words of the worker's store contract: the local
// Store returns these, and so does the worker's co-process client for a remote directory.
var (
	// ErrNotExist: the request file is gone (the gateway removed it after its caller timed out).
	ErrNotExist = errors.New("request file does not exist")
	// ErrTooLarge: the request file is larger than the envelope limit.
	ErrTooLarge = errors.New("Bridge request envelope exceeded the configured size limit.")
	// ErrLockTimeout is Paperclip's message for a response lock that never frees.
	ErrLockTimeout = errors.New("Timed out acquiring sandbox callback bridge response lock.")
)

// BudgetError: holding the request file would overdraw the process-wide body budget. Need is
// what the file alone costs; a file that could never fit is answered differently from one that
// must only wait its turn.
type BudgetError struct{ Need int64 }

func (e *BudgetError) Error() string {
	return fmt.Sprintf("the body budget cannot hold a %d-byte request file now", e.Need)
}

// WriteResult says what a response write did.
type WriteResult int

// Outcomes of a response write.
const (
	// Wrote: the response file is in place.
	Wrote WriteResult = iota
	// SkippedGone: the guarded request file was gone, so nothing was written (no orphan).
	SkippedGone
	// SkippedExists: a response for this id was already there (another writer answered first).
	SkippedExists
)

// String is the word the co-process protocol's P command answers with: wrote, gone or exists.
func (r WriteResult) String() string {
	switch r {
	case Wrote:
		return "wrote"
	case SkippedGone:
		return "gone"
	case SkippedExists:
		return "exists"
	}
	return fmt.Sprintf("WriteResult(%d)", int(r))
}
