package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clipbridge/clipbridge/proxy/policy"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// forwardedHeaders are the request headers the gateway copies into envelopes (Paperclip's E2
// list). Everything else, the Authorization header above all, stays in the sandbox.
var forwardedHeaders = []string{"accept", "content-type", "if-match", "if-none-match", "x-paperclip-github-capability"}

// gateway is the HTTP side of Run.
type gateway struct {
	cfg     config
	log     *slog.Logger
	token   string
	ledger  *ledger
	waiters *responseWaiters
	// q confines every file operation to the queue directory, which the sandbox shares
	// (queuedir.Root); with the local runner this gateway runs on the control plane.
	q *queuedir.Root
}

func newGateway(cfg config, log *slog.Logger) (*gateway, error) {
	g := &gateway{cfg: cfg, log: log, token: cfg.Token, ledger: newLedger(cfg.MaxBodyBytes), q: queuedir.NewRoot(cfg.QueueDir)}
	r, err := g.q.Open()
	if err == nil {
		err = g.q.EnsureDirs(r, "requests", "responses", "logs")
	}
	if err != nil {
		return nil, fmt.Errorf("prepare queue directory: %w", err)
	}
	g.waiters = newResponseWaiters(filepath.Join(cfg.QueueDir, "responses"), log)
	return g, nil
}

func (g *gateway) close() {
	g.waiters.close()
	g.q.Close()
}

// publishRequest writes requests/<name> atomically, recreating requests/ and responses/ when
// they were removed under us (responses are then found by the poll fallback).
func (g *gateway) publishRequest(name string, data []byte) error {
	r, err := g.q.Current()
	if err == nil {
		err = g.q.EnsureDirs(r, "requests", "responses")
	}
	if err == nil {
		err = queuedir.Publish(r, "requests/"+name, data)
	}
	return err
}

// removeRequest withdraws requests/<name>; a missing file is fine.
func (g *gateway) removeRequest(name string) {
	r, err := g.q.Current()
	if err == nil {
		err = g.q.CheckDirs(r, "requests")
	}
	if err == nil {
		err = r.Remove("requests/" + name)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		g.log.Warn("gateway request removal failed", "request", name, "error", err)
	}
}

// ServeHTTP checks in the order of our local listener (token, path, queue depth, content type,
// size), queues the envelope, and replays the worker's answer.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !policy.BridgeTokenMatches(r.Header.Get("Authorization"), g.token) {
		policy.WriteError(w, http.StatusUnauthorized, msgInvalidToken)
		return
	}
	path, rawQuery, err := policy.ParseTarget(r.RequestURI)
	if err != nil {
		policy.WriteError(w, http.StatusBadRequest, msgInvalidPath)
		return
	}
	if g.queueFull() {
		policy.WriteError(w, http.StatusServiceUnavailable, msgQueueFull)
		return
	}
	if policy.HasBody(r) && !policy.ContentTypeAllowed(r.Method, path, r.Header.Get("Content-Type")) {
		policy.WriteError(w, http.StatusUnsupportedMediaType, msgUnsupportedMedia)
		return
	}
	max := g.cfg.MaxBodyBytes
	if r.ContentLength > max {
		policy.WriteError(w, http.StatusRequestEntityTooLarge, msgBodyTooLarge)
		return
	}
	want := max
	if r.ContentLength >= 0 {
		want = r.ContentLength
	}
	reserved := reserveFor(want)
	if !g.ledger.reserve(reserved) {
		policy.WriteError(w, http.StatusServiceUnavailable, msgLedgerFull)
		return
	}
	defer g.ledger.release(reserved)
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		policy.WriteError(w, http.StatusBadRequest, "Bridge could not read the request body.")
		return
	}
	if int64(len(body)) > max {
		policy.WriteError(w, http.StatusRequestEntityTooLarge, msgBodyTooLarge)
		return
	}
	env := g.envelope(r, path, rawQuery, body)
	g.exchange(w, r, env)
}

// envelope builds the request envelope of reference §4.1, signed with our MAC.
func (g *gateway) envelope(r *http.Request, path, rawQuery string, body []byte) *queue.Request {
	env := &queue.Request{ID: newUUID(), Method: r.Method, Path: path, Headers: map[string]string{},
		CreatedAt: queue.FormatTime(time.Now())}
	if rawQuery != "" {
		env.Query = "?" + rawQuery // WHATWG URL.search: "?" alone becomes ""
	}
	for _, name := range forwardedHeaders {
		if vs := r.Header.Values(name); len(vs) > 0 {
			env.Headers[name] = strings.Join(vs, ", ")
		}
	}
	env.Body, env.BodyEncoding = queue.EncodeBody(body)
	env.Sign([]byte(g.token))
	return env
}

// exchange publishes env, waits for its answer and writes it to w.
func (g *gateway) exchange(w http.ResponseWriter, r *http.Request, env *queue.Request) {
	data, err := queue.MarshalLine(env)
	if err != nil {
		policy.WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	name := env.ID + ".json"
	wait := g.waiters.add(name)
	defer g.waiters.remove(name)
	if err := g.publishRequest(name, data); err != nil {
		g.log.Error("gateway request write failed", "error", err)
		policy.WriteError(w, http.StatusBadGateway, "Bridge could not queue the request.")
		return
	}
	// From here on the request is dispatched: a failure may follow an applied mutation.
	resp, err := g.awaitResponse(r, name, wait)
	if err != nil {
		if errors.Is(err, errResponseTimeout) {
			// The worker skips answering a request that is gone, so nothing is left orphaned.
			g.removeRequest(name)
		}
		g.fail(w, r.Method, err.Error())
		return
	}
	g.replay(w, r.Method, resp)
}

// fail answers a post-dispatch failure: 502 for a safe method, the non-retryable 409 otherwise.
func (g *gateway) fail(w http.ResponseWriter, method, msg string) {
	if queue.SafeMethod(method) {
		policy.WriteError(w, http.StatusBadGateway, msg)
		return
	}
	policy.WriteIndeterminate(w, msg)
}

// replayFloor is the smallest body a response envelope may carry. The worker's own answers are
// short JSON that names the cap, so under a tiny cap (Paperclip's tests use 32 bytes) they are
// longer than the cap itself. The envelope file was already read within EnvelopeLimit, which
// includes this much headroom, so decoding a body up to the floor allocates nothing more.
const replayFloor = 64 << 10

// replay writes a response envelope as the HTTP answer (reference §5.1 step 7 and §5.2).
func (g *gateway) replay(w http.ResponseWriter, method string, resp *gatewayResponse) {
	body, err := queue.DecodeBody(resp.Body, resp.bodyIsString, resp.BodyEncoding, max(g.cfg.MaxBodyBytes, replayFloor))
	if err != nil {
		g.fail(w, method, err.Error())
		return
	}
	status := resp.Status
	if resp.Headers[queue.OutcomeHeader] == "indeterminate" {
		status = http.StatusConflict
	}
	if status < 100 || status > 999 {
		g.fail(w, method, "Bridge response has an invalid status code.")
		return
	}
	writeRaw(w, status, resp.Headers, body)
}

// hopHeaders are never copied from an envelope: the gateway's own server frames the answer.
var hopHeaders = map[string]bool{"content-length": true, "connection": true, "transfer-encoding": true,
	"keep-alive": true, "upgrade": true, "trailer": true}

func writeRaw(w http.ResponseWriter, status int, headers map[string]string, body []byte) {
	h := w.Header()
	for k, v := range headers {
		if !hopHeaders[strings.ToLower(k)] {
			h.Set(k, v)
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// queueFull counts request files; at the cap it first sweeps requests older than the response
// timeout plus 2 s (their callers are gone), as Paperclip's E2 gateway does, and counts again.
func (g *gateway) queueFull() bool {
	if g.countRequests(false) < g.cfg.MaxQueueDepth {
		return false
	}
	return g.countRequests(true) >= g.cfg.MaxQueueDepth
}

func (g *gateway) countRequests(sweep bool) int {
	// A symlinked requests/ counts as empty: the write that follows refuses it and logs why.
	r, err := g.q.Current()
	if err == nil {
		err = g.q.CheckDirs(r, "requests")
	}
	if err != nil {
		return 0
	}
	d, err := r.Open("requests")
	if err != nil {
		return 0
	}
	entries, err := d.ReadDir(-1)
	_ = d.Close()
	if err != nil {
		return 0
	}
	n := 0
	stale := time.Now().Add(-(g.cfg.ResponseTimeout + queue.StaleSlack))
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if sweep {
			if info, err := e.Info(); err == nil && info.ModTime().Before(stale) {
				if r.Remove("requests/"+e.Name()) == nil {
					g.log.Info("gateway swept stale request", "request", e.Name())
					continue
				}
			}
		}
		n++
	}
	return n
}

// newUUID returns a random (version 4) UUID in lower case, like crypto.randomUUID().
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
