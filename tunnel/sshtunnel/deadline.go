package sshtunnel

import (
	"sync"
	"time"
)

// deadline is a resettable point in time whose passing closes a channel, in
// the style of net.Pipe's deadlines. expired may also run a hook, used to
// abort a blocked write.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	cancel  chan struct{}
	onFired func()
}

func newDeadline(onFired func()) *deadline {
	return &deadline{cancel: make(chan struct{}), onFired: onFired}
}

// set moves the deadline; the zero time removes it, a past time expires it
// at once.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer already fired: its callback closes (or has closed)
		// cancel, so wait for that before replacing the channel.
		<-d.cancel
	}
	d.timer = nil
	fired := isClosed(d.cancel)
	if t.IsZero() {
		if fired {
			d.cancel = make(chan struct{})
		}
		d.mu.Unlock()
		return
	}
	if dur := time.Until(t); dur > 0 {
		if fired {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { d.fire(cancel) })
		d.mu.Unlock()
		return
	}
	cancel := d.cancel
	if !fired {
		close(cancel)
	}
	d.mu.Unlock()
	// The hook may block (closing an SSH channel on a stalled link), so it
	// runs without the lock.
	if !fired && d.onFired != nil {
		d.onFired()
	}
}

func (d *deadline) fire(cancel chan struct{}) {
	close(cancel)
	if d.onFired != nil {
		d.onFired()
	}
}

// done returns a channel closed once the current deadline has passed.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
