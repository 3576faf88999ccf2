package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

type contextT = context.Context

// flakyStore fails the first waitFails listings and writeFails response writes.
type flakyStore struct {
	store
	waitFails, writeFails atomic.Int32
}

func (s *flakyStore) Wait(ctx context.Context, d time.Duration, skip map[string]bool) ([]string, error) {
	if s.waitFails.Add(-1) >= 0 {
		return nil, errors.New("list /q/requests failed with exit code 255: kex_exchange_identification: read: Connection reset by peer")
	}
	return s.store.Wait(ctx, d, skip)
}

func (s *flakyStore) Write(ctx context.Context, name string, data []byte, guard bool) (WriteResult, error) {
	if s.writeFails.Add(-1) >= 0 {
		return 0, errors.New("write bridge response failed with exit code 255")
	}
	return s.store.Write(ctx, name, data, guard)
}

// unreadableStore fails every read.
type unreadableStore struct{ store }

func (s *unreadableStore) Read(context.Context, string, int64) ([]byte, error) {
	return nil, errors.New("read u1.json: boom")
}

func contextWithCancel(t interface{ Context() context.Context }) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}
