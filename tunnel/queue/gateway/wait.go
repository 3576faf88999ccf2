package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

var errResponseTimeout = errors.New(msgTimedOut)

// gatewayResponse is a response envelope as the gateway reads it: loosely typed, like Node's.
type gatewayResponse struct {
	Status       int
	Headers      map[string]string
	Body         string
	bodyIsString bool
	BodyEncoding string
}

// awaitResponse waits for responses/<name>, woken by fsnotify and, as a fallback for
// filesystems without notifications, by a poll every PollInterval.
func (g *gateway) awaitResponse(r *http.Request, name string, wake <-chan struct{}) (*gatewayResponse, error) {
	deadline := time.NewTimer(g.cfg.ResponseTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(g.cfg.PollInterval)
	defer poll.Stop()
	for {
		resp, err := g.readResponse(name)
		if !errors.Is(err, os.ErrNotExist) {
			return resp, err
		}
		select {
		case <-wake:
		case <-poll.C:
		case <-deadline.C:
			return nil, errResponseTimeout
		case <-r.Context().Done():
			// The agent hung up; treat it like a timeout so the request is withdrawn.
			return nil, errResponseTimeout
		}
	}
}

// Our own messages for answers that are no answer (Paperclip's gateway follows links and would
// block on a FIFO, so it has no wording for these).
const (
	msgResponseNotRegular = "Bridge response is not a regular file."
	msgResponsesRefused   = "Bridge could not read the response."
)

// readResponse reads and deletes responses/<name> (the delete happens even when it is
// malformed, as in E2), bounded by the envelope limit, and parses it. Only a regular file is
// an answer: a link could make us serve a file from outside the queue, and a FIFO would block;
// either is removed and fails the request. A missing file (or responses/) is os.ErrNotExist.
func (g *gateway) readResponse(name string) (*gatewayResponse, error) {
	r, err := g.q.Current()
	if err == nil {
		err = g.q.CheckDirs(r, "responses")
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, os.ErrNotExist
	}
	if err != nil {
		g.log.Warn("gateway response refused", "request", name, "error", err)
		return nil, errors.New(msgResponsesRefused)
	}
	p := "responses/" + name
	f, st, err := g.q.OpenRegular(r, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, os.ErrNotExist
	}
	defer r.Remove(p)
	if err != nil {
		g.log.Warn("gateway response refused", "request", name, "error", err)
		return nil, errors.New(msgResponseNotRegular)
	}
	defer f.Close()
	limit := queue.EnvelopeLimit(g.cfg.MaxBodyBytes)
	if st.Size() > limit {
		return nil, errors.New(msgResponseEnvelopeSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, st.Size()+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != st.Size() {
		return nil, errors.New(msgResponseChanged)
	}
	return parseResponse(data)
}

// parseResponse accepts what Paperclip's gateway accepts: status defaults to 200 unless a
// number, only string headers count, a non-string body is "".
func parseResponse(data []byte) (*gatewayResponse, error) {
	var raw struct {
		Status       any             `json:"status"`
		Headers      map[string]any  `json:"headers"`
		Body         json.RawMessage `json:"body"`
		BodyEncoding any             `json:"bodyEncoding"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("Unexpected end of JSON input")
		}
		return nil, errors.New("Invalid JSON in bridge response: " + err.Error())
	}
	resp := &gatewayResponse{Status: http.StatusOK, Headers: map[string]string{}}
	if f, ok := raw.Status.(float64); ok {
		resp.Status = int(f)
	}
	for k, v := range raw.Headers {
		if s, ok := v.(string); ok {
			resp.Headers[k] = s
		}
	}
	if len(raw.Body) > 0 && raw.Body[0] == '"' {
		_ = json.Unmarshal(raw.Body, &resp.Body)
	}
	resp.bodyIsString = true // a missing or non-string body is replayed as ""
	if s, ok := raw.BodyEncoding.(string); ok {
		resp.BodyEncoding = s
	} else if raw.BodyEncoding != nil {
		resp.BodyEncoding = "invalid"
	}
	return resp, nil
}

// responseWaiters routes fsnotify events on responses/ to the request waiting for that name.
type responseWaiters struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
	watcher *fsnotify.Watcher
}

func newResponseWaiters(dir string, log *slog.Logger) *responseWaiters {
	rw := &responseWaiters{waiting: map[string]chan struct{}{}}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(dir); err != nil {
			_ = w.Close()
		}
	}
	if err != nil {
		log.Warn("gateway response watch unavailable, polling", "error", err)
		return rw
	}
	rw.watcher = w
	go rw.run(w)
	return rw
}

func (rw *responseWaiters) run(w *fsnotify.Watcher) {
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			rw.mu.Lock()
			if ch, ok := rw.waiting[filepath.Base(ev.Name)]; ok {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
			rw.mu.Unlock()
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
		}
	}
}

func (rw *responseWaiters) add(name string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	rw.mu.Lock()
	rw.waiting[name] = ch
	rw.mu.Unlock()
	return ch
}

func (rw *responseWaiters) remove(name string) {
	rw.mu.Lock()
	delete(rw.waiting, name)
	rw.mu.Unlock()
}

func (rw *responseWaiters) close() {
	if rw.watcher != nil {
		_ = rw.watcher.Close()
	}
}
