package gateway

import (
	"context"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// watchLease ends a detached gateway (queue.EnvLeaseMS) once the worker's lease file has not
// been renewed for lease: its host side is gone (the sidecar died, or lost its relay), and
// agents are better told at once (connection refused) than left waiting for answers that
// will not come. Until the first renewal, the gateway's own start counts as one.
func (g *gateway) watchLease(ctx context.Context, stop context.CancelFunc, lease time.Duration) {
	started := time.Now()
	t := time.NewTicker(max(lease/8, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		last := started
		if r, err := g.q.Current(); err == nil {
			if st, err := r.Lstat(queue.LeaseFile); err == nil && st.ModTime().After(last) {
				last = st.ModTime()
			}
		}
		if age := time.Since(last); age > lease {
			g.log.Warn("gateway lease expired: the host worker has not renewed it; stopping", "age", age.Round(time.Second).String())
			stop()
			return
		}
	}
}
