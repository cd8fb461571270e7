package apiserver

import (
	"net/http"
	"sync"

	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/endpoints/responsewriter"
)

// listWriteBufferSize is how much of a LIST response body is gathered before it is written to
// the connection. Kubernetes encodes a JSON list item by item (the streaming collections
// encoder), one Write of about a kilobyte per item; without gzip each of them goes to the
// HTTP/2 stream, whose 4 KiB buffer hands a DATA frame to the connection's goroutine, and TLS
// seals it, every few items. 64 KiB is four full HTTP/2 frames and TLS records per hand-off,
// and bounds what a LIST holds in memory however large it is.
const listWriteBufferSize = 64 << 10

// listBuffers keeps the buffers of finished LISTs for the next ones.
var listBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, listWriteBufferSize)
	return &b
}}

// withListWriteBuffer gathers the body writes of LIST responses into chunks of up to
// listWriteBufferSize before they reach w. Only the verb list is buffered: a watch (also a
// LIST with ?watch=true, whose verb is watch) writes and flushes each event, and every
// other request is written as it was. The bytes and their order are unchanged; the rest is
// written when the handler returns, or earlier when it flushes. It needs the request info,
// so it goes inside the generic filter chain.
func withListWriteBuffer(handler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		info, ok := request.RequestInfoFrom(req.Context())
		if !ok || !info.IsResourceRequest || info.Verb != "list" {
			handler.ServeHTTP(w, req)
			return
		}
		buffer := listBuffers.Get().(*[]byte)
		bw := &bufferedWriter{inner: w, buf: (*buffer)[:0]}
		defer func() {
			*buffer = bw.buf[:0]
			listBuffers.Put(buffer)
		}()
		handler.ServeHTTP(responsewriter.WrapForHTTP1Or2(bw), req)
		// Not deferred: after a panic the response is abandoned, not completed.
		bw.writeBuffered()
	})
}

// bufferedWriter gathers body writes in buf (of fixed capacity) and writes them to inner
// when it is full, on Flush, and at the end of the request.
type bufferedWriter struct {
	inner       http.ResponseWriter
	buf         []byte
	wroteHeader bool
	err         error
}

var _ responsewriter.UserProvidedDecorator = &bufferedWriter{}

// Unwrap returns the writer it buffers for.
func (w *bufferedWriter) Unwrap() http.ResponseWriter { return w.inner }

// Header returns the header of inner.
func (w *bufferedWriter) Header() http.Header { return w.inner.Header() }

// WriteHeader passes the status on at once.
func (w *bufferedWriter) WriteHeader(code int) {
	w.wroteHeader = true
	w.inner.WriteHeader(code)
}

// Write buffers p, writing the buffer to inner first when p does not fit; a p at least as
// large as the buffer goes to inner as it is.
func (w *bufferedWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.wroteHeader {
		// As the first Write would: the status and header as they are now, whatever the
		// handler changes before the buffer is written.
		w.WriteHeader(http.StatusOK)
	}
	if len(w.buf)+len(p) > cap(w.buf) {
		if w.writeBuffered(); w.err != nil {
			return 0, w.err
		}
		if len(p) >= cap(w.buf) {
			n, err := w.inner.Write(p)
			w.err = err
			return n, err
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush writes the buffer and flushes inner.
func (w *bufferedWriter) Flush() {
	w.writeBuffered()
	if flusher, ok := w.inner.(http.Flusher); ok {
		flusher.Flush()
	}
}

// writeBuffered writes what is buffered to inner. An error stays in w.err and ends every
// later Write.
func (w *bufferedWriter) writeBuffered() {
	if len(w.buf) == 0 || w.err != nil {
		return
	}
	_, w.err = w.inner.Write(w.buf)
	w.buf = w.buf[:0]
}
