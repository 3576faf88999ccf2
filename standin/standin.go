// Package standin is a small stand-in for the Paperclip control plane. It
// answers /api/agents/me and a few allowlisted routes with realistic JSON,
// and refuses every call that lacks the expected run token and run id, so
// the demo, the tests and the benchmarks can show the credential swap
// working without a real Paperclip.
package standin

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
)

// Server is the stand-in API.
type Server struct {
	runToken string
	runID    string
	requests atomic.Int64
	mux      http.Handler

	mu       sync.Mutex
	comments map[string][]comment
	issues   map[string]*issue
}

type issue struct {
	ID        string    `json:"id"`
	CompanyID string    `json:"companyId"`
	Title     string    `json:"title"`
	Status    string    `json:"status"`
	Assignee  string    `json:"assigneeAgentId"`
	UpdatedAt time.Time `json:"updatedAt"`
	version   int
}

type comment struct {
	ID        string    `json:"id"`
	IssueID   string    `json:"issueId"`
	Body      string    `json:"body"`
	AuthorID  string    `json:"authorAgentId"`
	CreatedAt time.Time `json:"createdAt"`
}

// New returns a stand-in that accepts only runToken and runID.
func New(runToken, runID string) *Server {
	s := &Server{
		runToken: runToken, runID: runID,
		comments: map[string][]comment{},
		issues: map[string]*issue{
			"issue-1": {ID: "issue-1", CompanyID: "company-demo", Title: "Wire the callback bridge", Status: "in_progress", Assignee: "agent-demo", UpdatedAt: time.Now().UTC()},
			"issue-2": {ID: "issue-2", CompanyID: "company-demo", Title: "Write the release notes", Status: "todo", Assignee: "agent-demo", UpdatedAt: time.Now().UTC()},
		},
	}
	r := chi.NewRouter()
	r.Use(s.authenticate)
	r.Get("/api/agents/me", s.me)
	r.Get("/api/companies/{company}/issues", s.listIssues)
	r.Get("/api/issues/{issue}", s.getIssue)
	r.Patch("/api/issues/{issue}", s.patchIssue)
	r.Get("/api/issues/{issue}/comments", s.listComments)
	r.Post("/api/issues/{issue}/comments", s.addComment)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
	})
	s.mux = r
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Requests reports how many requests arrived, authenticated or not.
func (s *Server) Requests() int64 { return s.requests.Load() }

func (s *Server) authenticate(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.runToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 ||
			r.Header.Get("X-Paperclip-Run-Id") != s.runID {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id": "agent-demo", "name": "Demo Agent", "companyId": "company-demo",
		"role": "engineer", "status": "running", "runId": r.Header.Get("X-Paperclip-Run-Id"),
	})
}

func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []issue{}
	for _, id := range []string{"issue-1", "issue-2"} {
		if is := s.issues[id]; is.CompanyID == chi.URLParam(r, "company") {
			out = append(out, *is)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	is, ok := s.issues[chi.URLParam(r, "issue")]
	var snapshot issue
	if ok {
		snapshot = *is
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Issue not found"})
		return
	}
	etag := `"` + snapshot.ID + "-" + strconv.Itoa(snapshot.version) + `"`
	if r.Header.Get("If-None-Match") == etag {
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", snapshot.UpdatedAt.Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, snapshot)
}

func (s *Server) patchIssue(w http.ResponseWriter, r *http.Request) {
	var patch struct {
		Status *string `json:"status"`
		Title  *string `json:"title"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&patch); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Invalid JSON"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.issues[chi.URLParam(r, "issue")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Issue not found"})
		return
	}
	if patch.Status != nil {
		is.Status = *patch.Status
	}
	if patch.Title != nil {
		is.Title = *patch.Title
	}
	is.version++
	is.UpdatedAt = time.Now().UTC()
	writeJSON(w, http.StatusOK, is)
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]comment{}, s.comments[chi.URLParam(r, "issue")]...)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addComment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.Body == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "A comment needs a body"})
		return
	}
	id := chi.URLParam(r, "issue")
	s.mu.Lock()
	defer s.mu.Unlock()
	c := comment{ID: fmt.Sprintf("comment-%d", len(s.comments[id])+1), IssueID: id, Body: in.Body,
		AuthorID: "agent-demo", CreatedAt: time.Now().UTC()}
	s.comments[id] = append(s.comments[id], c)
	writeJSON(w, http.StatusCreated, c)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
