package reliability

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// TestAbandonedRequestsLeavePoolHealthy has clients hang up while their
// answers are on the way (what every load generator does at the end of a
// run, and an agent killed mid-call), interleaved with well-behaved
// requests. With a healthy upstream every well-behaved request must
// succeed: an abandoned call must never leave a closed or poisoned
// connection in the upstream pool for the next request to fail on (which
// would answer a read 504 and a mutation a false indeterminate 409,
// although nothing was sent).
func TestAbandonedRequestsLeavePoolHealthy(t *testing.T) {
	token := newRunToken()
	up := startUpstream(t, token, 0)
	sc := startSidecar(t, up.addr, token)
	warmUp(t, sc)
	var failures []string
	n := 0
	for round := 0; round < 40; round++ {
		abandon(t, sc, 32)
		rc, err := dialRaw(sc.addr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			o := outcome{method: "GET", id: fmt.Sprintf("r%d-%d", round, i)}
			req := getReq(sc.key, getPath+"?req="+o.id)
			if i%4 == 3 {
				o.method = "POST"
				req = postReq(sc.key, postPath+"?req="+o.id, []byte(`{}`))
			}
			n++
			r, err := rc.roundTrip(req, 10*time.Second)
			if err != nil {
				failures = append(failures, fmt.Sprintf("%s %s: %v", o.method, o.id, err))
				break
			}
			if c := classify(o.method, o.id, r); c != "ok" {
				failures = append(failures, fmt.Sprintf("%s %s: %d %s (upstream saw it %d times)", o.method, o.id, r.status, r.body, up.arr.count(o.method, o.id)))
			}
		}
		rc.Close()
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d well-behaved requests failed after other clients hung up, e.g.:\n%v",
			len(failures), n, failures[:min(len(failures), 5)])
	}
}

// abandon sends n GETs on fresh connections and closes each after a
// random few hundred microseconds, around the time its answer arrives.
func abandon(t *testing.T, sc *sidecar, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		c, err := net.Dial("tcp", sc.addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			_, _ = c.Write(getReq(sc.key, getPath+"?req=abandoned"))
			time.Sleep(time.Duration(rand.IntN(600)) * time.Microsecond)
		})
	}
	wg.Wait()
}
