package watchmux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/ferrite-dev/ferrite/console/proxy"
)

// watch is one watch of a socket.
type watch struct {
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	// stopped is set when the browser ended the watch: its frames still queued are dropped,
	// so that nothing of it arrives after the stop.
	stopped atomic.Bool
}

func (w *watch) stop() {
	w.stopped.Store(true)
	w.cancel()
}

// startWatch starts the watch of path under id, or refuses it with an error frame.
func (s *socket) startWatch(id, path string) {
	if id == "" || len(id) > MaxIDLength {
		s.refuse(id, fmt.Sprintf("watch id %q: must have 1 to %d characters", id, MaxIDLength))
		return
	}
	target, err := s.target(path)
	if err != nil {
		s.refuse(id, err.Error())
		return
	}
	s.mu.Lock()
	if live, ok := s.watches[id]; ok {
		// Either watch could be meant; the browser hears that id is over and starts again.
		delete(s.watches, id)
		s.mu.Unlock()
		live.stop()
		s.refuse(id, fmt.Sprintf("watch id %q is already live: that watch is stopped too", id))
		return
	}
	if len(s.watches) >= MaxWatches {
		s.mu.Unlock()
		s.refuse(id, fmt.Sprintf("a socket holds at most %d watches", MaxWatches))
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	w := &watch{id: id, ctx: ctx, cancel: cancel}
	s.watches[id] = w
	s.mu.Unlock()
	s.started++
	s.running.Add(1)
	go s.run(w, target)
}

// stopWatch ends the watch of id. An id that is not live (its watch may just have ended) is
// no error.
func (s *socket) stopWatch(id string) {
	s.mu.Lock()
	w, ok := s.watches[id]
	if ok {
		delete(s.watches, id)
	}
	s.mu.Unlock()
	if ok {
		w.stop()
	}
}

// target is the API server's URL of the watch of path: a path under /api/ or /apis/ that the
// proxy would forward, with its query and watch=1.
func (s *socket) target(path string) (*url.URL, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q: must start with /api/ or /apis/", path)
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf("path %q: %v", path, err)
	}
	apiPath, err := proxy.CheckPath(u.EscapedPath())
	if err != nil {
		return nil, err
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("path %q: query: %v", path, err)
	}
	query.Set("watch", "1")
	return s.h.Proxy.URL(apiPath, query.Encode()), nil
}

// run runs w until its stream ends or it is stopped, then sends its last frame.
func (s *socket) run(w *watch, target *url.URL) {
	defer s.running.Done()
	s.h.active.Add(1)
	defer s.h.active.Add(-1)
	defer w.cancel()
	s.log.Debug("watch started", "id", w.id, "path", target.Path)
	last := s.stream(w, target)
	s.mu.Lock()
	if s.watches[w.id] == w {
		delete(s.watches, w.id) // before the last frame: the browser may reuse the id then
	}
	s.mu.Unlock()
	if last != nil {
		s.enqueue(w, last)
	}
}

// stream makes the watch request as the session's user and queues each event. It returns the
// frame that ends the watch for the browser, or nil when the watch or socket was ended here.
func (s *socket) stream(w *watch, target *url.URL) []byte {
	request, err := http.NewRequestWithContext(w.ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return errorFrame(w.id, err.Error())
	}
	request.Header.Set("Accept", "application/json")
	response, err := proxy.Transport.RoundTrip(request)
	if err != nil {
		if w.ctx.Err() != nil {
			return nil
		}
		s.log.Warn("watching through the API server failed", "path", target.Path, "err", err)
		return statusFrame(w.id, http.StatusBadGateway, []byte("API server: "+err.Error()))
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(response.Body, maxStatusBody))
		if w.ctx.Err() != nil {
			return nil
		}
		s.log.Debug("watch answered with an error", "id", w.id, "path", target.Path, "code", response.StatusCode)
		return statusFrame(w.id, response.StatusCode, body)
	}
	contentType := response.Header.Get("Content-Type")
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType != "application/json" {
		return errorFrame(w.id, fmt.Sprintf("path %s answered with %q, not a JSON watch stream", target.Path, contentType))
	}
	prefix := eventPrefix(w.id)
	decoder := json.NewDecoder(response.Body)
	for {
		var event json.RawMessage
		if err := decoder.Decode(&event); err != nil {
			if w.ctx.Err() != nil {
				return nil
			}
			if !errors.Is(err, io.EOF) {
				s.log.Debug("watch stream broke off", "id", w.id, "path", target.Path, "err", err)
			}
			return endFrame(w.id)
		}
		if !s.enqueue(w, eventFrame(prefix, event)) {
			return nil
		}
	}
}
