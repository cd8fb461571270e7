package server

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// gzipExtensions are the app's text file types, which gzip shrinks; images and fonts are
// compressed already.
var gzipExtensions = map[string]bool{".js": true, ".mjs": true, ".css": true, ".html": true,
	".svg": true, ".json": true, ".map": true, ".txt": true}

// fallbackTypes name the compressible types that mime.TypeByExtension may not know: without
// a Content-Type, net/http would sniff the gzip bytes and call them application/x-gzip.
var fallbackTypes = map[string]string{".map": "application/json", ".txt": "text/plain; charset=utf-8"}

// gzipped is one app file compressed.
type gzipped struct {
	// data is the gzip stream, nil when gzip would not make the file smaller.
	data        []byte
	contentType string
}

// gzipCache compresses each app file once, on its first request, and keeps the result: the
// embedded app never changes while the console runs. Its keys are files that exist, so it
// holds at most the app. The zero value is ready to use.
type gzipCache struct {
	mu    sync.Mutex
	files map[string]*gzipped
}

// get returns name of files compressed. A failure is not kept: the next request tries again.
func (c *gzipCache) get(files fs.FS, name string) (*gzipped, error) {
	c.mu.Lock()
	file, ok := c.files[name]
	c.mu.Unlock()
	if ok {
		return file, nil
	}
	// Compressed outside the lock so that one large file does not hold up the others.
	file, err := compress(files, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if earlier, ok := c.files[name]; ok {
		return earlier, nil
	}
	if c.files == nil {
		c.files = map[string]*gzipped{}
	}
	c.files[name] = file
	return file, nil
}

func compress(files fs.FS, name string) (*gzipped, error) {
	plain, err := fs.ReadFile(files, name)
	if err != nil {
		return nil, err
	}
	ext := strings.ToLower(path.Ext(name))
	file := &gzipped{contentType: mime.TypeByExtension(ext)}
	if file.contentType == "" {
		file.contentType = fallbackTypes[ext]
	}
	if file.contentType == "" {
		file.contentType = http.DetectContentType(plain)
	}
	var buffer bytes.Buffer
	// Compressed once, so the slowest level costs nothing per request.
	writer, err := gzip.NewWriterLevel(&buffer, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := writer.Write(plain); err != nil {
		return nil, err
	}
	if err := writer.Close(); err != nil {
		return nil, err
	}
	if buffer.Len() < len(plain) {
		file.data = buffer.Bytes()
	}
	return file, nil
}

// serveGzipped answers with the compressed copy of the app file name when the client takes
// gzip, and says whether it answered. Either way it sets the headers that the compressed and
// the plain answer share, so a cache keeps them apart and both carry the same type. A Range
// request gets the plain file (false), whose byte offsets are the ones a client means.
func (s *Server) serveGzipped(w http.ResponseWriter, r *http.Request, name string) bool {
	if !gzipExtensions[strings.ToLower(path.Ext(name))] {
		return false
	}
	file, err := s.gzipped.get(s.config.App, name)
	if err != nil {
		s.config.Log.Error("Compressing an app file failed, serving it uncompressed", "file", name, "err", err)
		return false
	}
	if file.data == nil {
		return false
	}
	header := w.Header()
	header.Add("Vary", "Accept-Encoding")
	header.Set("Content-Type", file.contentType)
	if !acceptsGzip(r) || r.Header.Get("Range") != "" {
		return false
	}
	header.Set("Content-Encoding", "gzip")
	header.Set("Content-Length", strconv.Itoa(len(file.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(file.data)
	}
	return true
}

// acceptsGzip says whether the request's Accept-Encoding takes gzip: named (or x-gzip) with
// a q-value above 0, or, when not named, a "*" above 0. No header means identity only.
func acceptsGzip(r *http.Request) bool {
	named, star := -1.0, -1.0 // -1: not in the header
	for _, line := range r.Header.Values("Accept-Encoding") {
		for _, item := range strings.Split(line, ",") {
			coding, params, _ := strings.Cut(item, ";")
			q := qValue(params)
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip", "x-gzip":
				named = max(named, q)
			case "*":
				star = max(star, q)
			}
		}
	}
	if named >= 0 {
		return named > 0
	}
	return star > 0
}

// qValue is the weight in the parameters of one Accept-Encoding item: 1 when absent, 0 when
// unreadable (a client that writes it wrong is not sent what it may not decode).
func qValue(params string) float64 {
	for _, param := range strings.Split(params, ";") {
		key, value, _ := strings.Cut(param, "=")
		if strings.EqualFold(strings.TrimSpace(key), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil || q < 0 || q > 1 {
				return 0
			}
			return q
		}
	}
	return 1
}
