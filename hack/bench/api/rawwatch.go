package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// rawWatcher is one watch of Machines read as bytes: it counts the events of its stream
// without decoding them (protobuf: length-prefixed frames; JSON: one event per line), so
// that a thousand of them in the benchmark's process take little of the CPU the apiserver
// needs. Each has its own connection (HTTP/2 over TLS, as client-go), as watchers in separate
// processes would.
type rawWatcher struct {
	http     *http.Client
	body     io.ReadCloser
	expected int64
	skip     int64 // events received before the last reset
	got      atomic.Int64
	ended    atomic.Bool // the stream ended before the benchmark closed it
}

// rawWatchers is a set of watchers read together.
type rawWatchers struct {
	watchers []*rawWatcher
	cancel   context.CancelFunc
	done     sync.WaitGroup
	// received counts events over all watchers; last is when the last one arrived (unix ns).
	received, last atomic.Int64
}

// watchSpec is one watcher to open: its field selector ("" for every Machine) and the events
// it should receive.
type watchSpec struct {
	fieldSelector string
	expected      int64
}

// openRawWatchers opens a watch of every namespace's Machines from resourceVersion for each
// spec, with mediaType on the wire (runtime.ContentTypeProtobuf or runtime.ContentTypeJSON),
// 32 at a time, and starts counting.
func openRawWatchers(ctx context.Context, config *rest.Config, specs []watchSpec, mediaType, resourceVersion string) (*rawWatchers, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &rawWatchers{cancel: cancel, watchers: make([]*rawWatcher, len(specs))}
	r := load.Run(ctx, load.CPUMeter{}, len(specs), 32, func(ctx context.Context, _, i int) error {
		w, err := openRawWatch(ctx, config, specs[i], mediaType, resourceVersion)
		s.watchers[i] = w
		return err
	})
	if r.Errors > 0 {
		s.close()
		return nil, fmt.Errorf("%d of %d watches did not open: %w", r.Errors, len(specs), r.FirstErr)
	}
	for _, w := range s.watchers {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			s.count(ctx, w, mediaType)
		}()
	}
	return s, nil
}

func openRawWatch(ctx context.Context, config *rest.Config, spec watchSpec, mediaType, resourceVersion string) (*rawWatcher, error) {
	client, err := rest.HTTPClientFor(load.OwnConnection(config))
	if err != nil {
		return nil, err
	}
	w := &rawWatcher{http: client, expected: spec.expected}
	query := url.Values{"watch": {"true"}, "resourceVersion": {resourceVersion}}
	if spec.fieldSelector != "" {
		query.Set("fieldSelector", spec.fieldSelector)
	}
	u := strings.TrimSuffix(config.Host, "/") + "/apis/compute.ferrite.dev/v1alpha1/machines?" + query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return w, err
	}
	accept := mediaType
	if mediaType == runtime.ContentTypeProtobuf {
		accept += ";stream=watch"
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return w, err
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return w, fmt.Errorf("watch %s: %s: %s", u, resp.Status, data)
	}
	w.body = resp.Body
	return w, nil
}

// count reads w's stream until it ends.
func (s *rawWatchers) count(ctx context.Context, w *rawWatcher, mediaType string) {
	defer w.body.Close()
	r := bufio.NewReaderSize(w.body, 64<<10)
	var err error
	if mediaType == runtime.ContentTypeProtobuf {
		var header [4]byte
		for err == nil {
			if _, err = io.ReadFull(r, header[:]); err == nil {
				_, err = r.Discard(int(binary.BigEndian.Uint32(header[:])))
				s.seen(w, 1)
			}
		}
	} else {
		// The JSON watch encoder ends each event with a newline and escapes newlines in strings.
		buf := make([]byte, 64<<10)
		for err == nil {
			var n int
			n, err = r.Read(buf)
			if events := bytes.Count(buf[:n], []byte{'\n'}); events > 0 {
				s.seen(w, int64(events))
			}
		}
	}
	if ctx.Err() == nil {
		w.ended.Store(true)
	}
}

func (s *rawWatchers) seen(w *rawWatcher, events int64) {
	w.got.Add(events)
	s.received.Add(events)
	s.last.Store(time.Now().UnixNano())
}

// reset makes the counts start again from here: what the watchers received so far is not
// part of what they are expected to receive.
func (s *rawWatchers) reset() {
	for _, w := range s.watchers {
		w.skip = w.got.Load()
	}
	s.received.Store(0)
}

// expected is the sum of the watchers' expected events.
func (s *rawWatchers) expected() int64 {
	var n int64
	for _, w := range s.watchers {
		n += w.expected
	}
	return n
}

// wait waits until the watchers have received want events since the last reset, or until
// none arrived for settle after since. It returns when the last event arrived.
func (s *rawWatchers) wait(want int64, since time.Time, settle time.Duration) time.Time {
	for {
		last := time.Unix(0, s.last.Load())
		if s.received.Load() >= want {
			return last
		}
		if time.Since(later(last, since)) > settle {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// delivery is what a set of watchers received, summed over them.
type delivery struct {
	expected, delivered, missing, extra int64
	// ended counts watches the server ended while the benchmark still read them.
	ended int
}

// close ends every watch and returns what the watchers received.
func (s *rawWatchers) close() delivery {
	s.cancel()
	s.done.Wait()
	var d delivery
	for _, w := range s.watchers {
		if w == nil {
			continue
		}
		got := w.got.Load() - w.skip
		d.expected += w.expected
		d.delivered += min(got, w.expected)
		d.missing += max(0, w.expected-got)
		d.extra += max(0, got-w.expected)
		if w.ended.Load() {
			d.ended++
		}
		w.http.CloseIdleConnections()
	}
	return d
}
