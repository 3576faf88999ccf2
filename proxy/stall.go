package proxy

import "time"

// Stall deadlines on upstream connections are pushed forward lazily.
//
// Every read and write on an upstream connection is bounded by
// --upstream-timeout from the last progress, and setting a connection
// deadline is not free: it re-arms a runtime timer under a lock. Set
// naively, a small GET costs five deadline changes (write, read, one per
// body read, and two to clear them when the connection is pooled), and
// profiling under load put deadline changes at about 4% of the bridge's
// CPU. A deadline already within stallSlack of the one wanted is left as
// it is, so the bound a caller gets is between timeout-stallSlack and
// timeout, and a busy connection re-arms its timers about once per slack
// instead of several times per request.

// stallSlack is how far short of timeout a stall bound may fall: a
// sixteenth of it, at most one second.
func stallSlack(timeout time.Duration) time.Duration { return min(timeout/16, time.Second) }

// pushWrite bounds the connection's writes to timeout from now.
func (pc *upConn) pushWrite(timeout time.Duration) {
	want := time.Now().Add(timeout)
	if pc.writeBy.IsZero() || want.Sub(pc.writeBy) >= stallSlack(timeout) {
		pc.writeBy = want
		_ = pc.SetWriteDeadline(want)
	}
}

// pushRead bounds the connection's reads to timeout from now.
func (pc *upConn) pushRead(timeout time.Duration) {
	want := time.Now().Add(timeout)
	if pc.readBy.IsZero() || want.Sub(pc.readBy) >= stallSlack(timeout) {
		pc.readBy = want
		_ = pc.SetReadDeadline(want)
	}
}

// clearExpiredRead lifts a read deadline that passed while the connection
// sat in the pool, so the liveness probe (a read) is not refused by it.
func (pc *upConn) clearExpiredRead(now time.Time) {
	if !pc.readBy.IsZero() && !pc.readBy.After(now) {
		pc.readBy = time.Time{}
		_ = pc.SetReadDeadline(time.Time{})
	}
}
