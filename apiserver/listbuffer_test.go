package apiserver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apiserver/pkg/endpoints/request"
)

// recordingWriter records each Write that reaches the connection, and the flushes.
type recordingWriter struct {
	*httptest.ResponseRecorder
	writes  []int
	flushes int
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.writes = append(r.writes, len(p))
	return r.ResponseRecorder.Write(p)
}

func (r *recordingWriter) Flush() { r.flushes++ }

// CloseNotify makes the recorder look like an HTTP/2 response writer to WrapForHTTP1Or2.
func (r *recordingWriter) CloseNotify() <-chan bool { return make(chan bool) }

// serve runs handler behind withListWriteBuffer for a request with the given verb.
func serve(verb string, handler http.HandlerFunc) *recordingWriter {
	return serveTo(&recordingWriter{ResponseRecorder: httptest.NewRecorder()}, verb, handler)
}

// serveTo is serve writing to rec.
func serveTo(rec *recordingWriter, verb string, handler http.HandlerFunc) *recordingWriter {
	req := httptest.NewRequest(http.MethodGet, "/apis/compute.ferrite.dev/v1alpha1/machines", nil)
	req = req.WithContext(request.WithRequestInfo(req.Context(), &request.RequestInfo{IsResourceRequest: true, Verb: verb}))
	withListWriteBuffer(handler).ServeHTTP(rec, req)
	return rec
}

// TestListWriteBufferGathersWrites checks that a LIST written in many small pieces reaches
// the connection unchanged, in writes of at most listWriteBufferSize, and that a piece larger
// than the buffer is not copied.
func TestListWriteBufferGathersWrites(t *testing.T) {
	var want bytes.Buffer
	rec := serve("list", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		for i := range 3000 {
			piece := bytes.Repeat([]byte{byte('a' + i%26)}, 700+i%300)
			want.Write(piece)
			if _, err := w.Write(piece); err != nil {
				t.Fatal(err)
			}
		}
		large := bytes.Repeat([]byte("L"), 3*listWriteBufferSize)
		want.Write(large)
		w.Write(large)
		want.WriteString("}\n")
		w.Write([]byte("}\n"))
	})
	if !bytes.Equal(rec.Body.Bytes(), want.Bytes()) {
		t.Fatalf("body differs: got %d bytes, want %d", rec.Body.Len(), want.Len())
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	// 3000 pieces of 700-999 bytes make about 2.5 MB: about 40 writes of at most 64 KiB,
	// the large piece as it is, and the end.
	if len(rec.writes) > 50 {
		t.Fatalf("%d writes reached the connection, want at most 50", len(rec.writes))
	}
	large := 0
	for _, n := range rec.writes {
		if n > listWriteBufferSize {
			large++
			if n != 3*listWriteBufferSize {
				t.Fatalf("a write of %d bytes, more than the buffer and not the large piece", n)
			}
		}
	}
	if large != 1 {
		t.Fatalf("the large piece was written %d times as it is, want once", large)
	}
}

// TestListWriteBufferFlush checks that Flush writes what is buffered and flushes the
// connection, and that other verbs, watches above all, are not buffered at all.
func TestListWriteBufferFlush(t *testing.T) {
	rec := &recordingWriter{ResponseRecorder: httptest.NewRecorder()}
	serveTo(rec, "list", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("event 1\n"))
		w.(http.Flusher).Flush()
		if rec.Body.String() != "event 1\n" {
			t.Errorf("after Flush the connection has %q", rec.Body.String())
		}
		w.Write([]byte("event 2\n"))
	})
	if rec.Body.String() != "event 1\nevent 2\n" || rec.flushes != 1 || len(rec.writes) != 2 {
		t.Fatalf("body %q, %d flushes, writes %v", rec.Body.String(), rec.flushes, rec.writes)
	}
	for _, verb := range []string{"watch", "get", "create"} {
		var written []int
		rec := serve(verb, func(w http.ResponseWriter, _ *http.Request) {
			for range 3 {
				w.Write([]byte("event\n"))
				written = append(written, len(w.(*recordingWriter).writes))
			}
		})
		if rec.Body.String() != "event\nevent\nevent\n" || written[0] != 1 || written[2] != 3 {
			t.Fatalf("%s: body %q, writes after each: %v", verb, rec.Body.String(), written)
		}
	}
}

// TestListWriteBufferStatus checks that the status and header of the first Write hold even
// when the handler calls WriteHeader again later, as they would without the buffer.
func TestListWriteBufferStatus(t *testing.T) {
	rec := serve("list", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("{"))
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("}"))
	})
	if rec.Code != http.StatusOK || rec.Body.String() != "{}" {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
	}
}
