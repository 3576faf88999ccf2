package config

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// TokenFile is a credential file that may be replaced while the sidecar
// runs, so a launcher can rotate an expiring run JWT without a restart.
//
// It polls by reading the file, rather than watching it, because the
// three ways a file gets replaced (rename over it, write in place, and
// Kubernetes' swap of a "..data" symlink) need three different watch
// setups, while a read through the path sees all of them. A read of a
// small file every PollInterval costs nothing measurable.
type TokenFile struct {
	path     string
	interval time.Duration
	log      *slog.Logger
	cur      atomic.Pointer[string]
	since    atomic.Int64 // unix nanos the current token was first seen
}

// PollInterval is how often a TokenFile is re-read; rotations are seen
// within this time (the contract says 2 s).
const PollInterval = 500 * time.Millisecond

// NewTokenFile starts from the token already read at load time.
func NewTokenFile(path string, initial Secret, interval time.Duration, log *slog.Logger) *TokenFile {
	t := &TokenFile{path: path, interval: interval, log: log}
	v := initial.Reveal()
	t.cur.Store(&v)
	t.since.Store(time.Now().UnixNano())
	return t
}

// Since reports when the current token was first seen: at start-up, or
// at the rotation that brought it.
func (t *TokenFile) Since() time.Time { return time.Unix(0, t.since.Load()) }

// Token returns the current token.
func (t *TokenFile) Token() string { return *t.cur.Load() }

// Run re-reads the file until ctx ends. A file that is briefly missing or
// empty (mid-swap), or holds a token that fails the start-up checks,
// keeps the previous token; the problem is logged once until it clears.
func (t *TokenFile) Run(ctx context.Context) error {
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		tok, err := ReadTokenFile(t.path)
		if err != nil {
			if !failing {
				t.log.Warn("run token file unreadable; keeping the previous token", "path", t.path, "error", err)
			}
			failing = true
			continue
		}
		// The same rule as at start-up: a value with a line break or a
		// space would otherwise go upstream as part of the header block.
		// The error names what is wrong, never the value.
		if err := checkTokenShape(tok, 1); err != nil {
			if !failing {
				t.log.Warn("run token file holds an invalid token; keeping the previous token", "path", t.path, "error", err)
			}
			failing = true
			continue
		}
		failing = false
		if tok != t.Token() {
			t.cur.Store(&tok)
			t.since.Store(time.Now().UnixNano())
			t.log.Info("run token rotated", "path", t.path)
		}
	}
}
