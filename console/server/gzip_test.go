package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/console/app"
	"github.com/ferrite-dev/ferrite/console/session"
)

// newStaticServer is a console serving files; its API is never called.
func newStaticServer(t *testing.T, files fs.FS) *Server {
	t.Helper()
	s, err := New(Config{
		API:      &rest.Config{Host: "https://127.0.0.1:1"},
		Sessions: session.NewStore(),
		App:      files,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// get sends a GET (or method) for target with the given Accept-Encoding ("" for none).
func get(s *Server, method, target, acceptEncoding string, extra ...string) *http.Response {
	request := httptest.NewRequest(method, target, nil)
	if acceptEncoding != "" {
		request.Header.Set("Accept-Encoding", acceptEncoding)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		request.Header.Set(extra[i], extra[i+1])
	}
	recorder := httptest.NewRecorder()
	s.ServeHTTP(recorder, request)
	return recorder.Result()
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	reader, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	plain, err := io.ReadAll(reader)
	if err != nil {
		t.Fatalf("gzip stream: %v", err)
	}
	return plain
}

// checkGzipped checks a compressed answer: headers, and that it decompresses to want.
func checkGzipped(t *testing.T, response *http.Response, want []byte, contentType, cacheControl string) {
	t.Helper()
	body, _ := io.ReadAll(response.Body)
	h := response.Header
	if response.StatusCode != http.StatusOK || h.Get("Content-Encoding") != "gzip" || h.Get("Vary") != "Accept-Encoding" ||
		!strings.HasPrefix(h.Get("Content-Type"), contentType) || h.Get("Cache-Control") != cacheControl ||
		h.Get("Content-Length") != strconv.Itoa(len(body)) || h.Get("Accept-Ranges") != "" {
		t.Fatalf("gzip answer: %d %v", response.StatusCode, h)
	}
	if len(body) >= len(want) {
		t.Errorf("compressed %d bytes to %d", len(want), len(body))
	}
	if plain := gunzip(t, body); !bytes.Equal(plain, want) {
		t.Errorf("decompressed %d bytes, want the file's %d", len(plain), len(want))
	}
	if h.Get("Content-Security-Policy") != ContentSecurityPolicy {
		t.Errorf("gzip answer without the security headers: %v", h)
	}
}

// checkPlain checks an uncompressed answer of want.
func checkPlain(t *testing.T, response *http.Response, want []byte, vary string) {
	t.Helper()
	body, _ := io.ReadAll(response.Body)
	h := response.Header
	if response.StatusCode != http.StatusOK || h.Get("Content-Encoding") != "" || h.Get("Vary") != vary ||
		h.Get("Content-Length") != strconv.Itoa(len(want)) || !bytes.Equal(body, want) {
		t.Fatalf("plain answer: %d %v, %d bytes, want %d", response.StatusCode, h, len(body), len(want))
	}
}

var (
	indexHTML = []byte("<!doctype html><html><body>" + strings.Repeat("<div class=\"machine\">vm</div>\n", 200) + "</body></html>")
	appJS     = []byte(strings.Repeat("export function machine(name) { return { kind: 'Machine', name }; }\n", 300))
	appMap    = []byte(`{"version":3,"mappings":"` + strings.Repeat("AAAA,", 500) + `"}`)
	logoPNG   = bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1000)
	tinyTXT   = []byte("ok")
)

func testApp() fstest.MapFS {
	return fstest.MapFS{
		"index.html":          {Data: indexHTML},
		"assets/app-1.js":     {Data: appJS},
		"assets/app-1.js.map": {Data: appMap},
		"assets/logo.png":     {Data: logoPNG},
		"robots.txt":          {Data: tinyTXT},
	}
}

func TestGzipStatic(t *testing.T) {
	s := newStaticServer(t, testApp())
	const immutable, revalidate = "public, max-age=31536000, immutable", "no-cache"

	checkGzipped(t, get(s, http.MethodGet, "/assets/app-1.js", "gzip, deflate, br"), appJS, "text/javascript", immutable)
	checkGzipped(t, get(s, http.MethodGet, "/assets/app-1.js.map", "gzip"), appMap, "application/json", immutable)
	// index.html, by its name, as / and for the app's routes.
	for _, target := range []string{"/index.html", "/", "/machines", "/machines/vm.1?namespace=x"} {
		checkGzipped(t, get(s, http.MethodGet, target, "gzip"), indexHTML, "text/html", revalidate)
	}

	// Without gzip: the file itself, with the same type and caching.
	response := get(s, http.MethodGet, "/assets/app-1.js", "")
	checkPlain(t, response, appJS, "Accept-Encoding")
	if !strings.HasPrefix(response.Header.Get("Content-Type"), "text/javascript") || response.Header.Get("Cache-Control") != immutable {
		t.Errorf("plain asset headers %v", response.Header)
	}
	response = get(s, http.MethodGet, "/machines", "")
	checkPlain(t, response, indexHTML, "Accept-Encoding")
	if !strings.HasPrefix(response.Header.Get("Content-Type"), "text/html") || response.Header.Get("Cache-Control") != revalidate {
		t.Errorf("plain index headers %v", response.Header)
	}

	// Files gzip does not shrink, or that are compressed already, are sent as they are.
	checkPlain(t, get(s, http.MethodGet, "/assets/logo.png", "gzip"), logoPNG, "")
	checkPlain(t, get(s, http.MethodGet, "/robots.txt", "gzip"), tinyTXT, "")

	// HEAD: the compressed answer's headers, no body.
	response = get(s, http.MethodHead, "/assets/app-1.js", "gzip")
	body, _ := io.ReadAll(response.Body)
	if response.Header.Get("Content-Encoding") != "gzip" || response.Header.Get("Content-Length") == "" || len(body) != 0 {
		t.Errorf("HEAD: %v, %d bytes of body", response.Header, len(body))
	}

	// A Range request gets a range of the file itself.
	response = get(s, http.MethodGet, "/assets/app-1.js", "gzip", "Range", "bytes=0-5")
	body, _ = io.ReadAll(response.Body)
	if response.StatusCode != http.StatusPartialContent || response.Header.Get("Content-Encoding") != "" || string(body) != string(appJS[:6]) {
		t.Errorf("Range: %d %v %q", response.StatusCode, response.Header, body)
	}

	// Missing files stay 404, uncompressed.
	if response := get(s, http.MethodGet, "/assets/missing.js", "gzip"); response.StatusCode != http.StatusNotFound || response.Header.Get("Content-Encoding") != "" {
		t.Errorf("missing asset: %d %v", response.StatusCode, response.Header)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "x-gzip": true, "deflate, gzip;q=0.5": true, "br;q=1.0, gzip; q=0.8": true,
		"gzip;q=0": false, "gzip;q=0.000": false, "gzip;q=abc": false, "identity": false, "br, deflate": false,
		"*": true, "*;q=0": false, "gzip;q=0, *": false, "identity, *;q=0.1": true, "gzipped": false,
	} {
		request := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			request.Header.Set("Accept-Encoding", header)
		}
		if got := acceptsGzip(request); got != want {
			t.Errorf("Accept-Encoding %q: %v, want %v", header, got, want)
		}
	}
	// The header may come in several lines.
	request := httptest.NewRequest(http.MethodGet, "/", nil)
	request.Header.Add("Accept-Encoding", "br")
	request.Header.Add("Accept-Encoding", "gzip")
	if !acceptsGzip(request) {
		t.Error("gzip on a second Accept-Encoding line not seen")
	}
}

// Each file is compressed once; a file that could not be read is not remembered.
func TestGzipCache(t *testing.T) {
	files := testApp()
	var cache gzipCache
	first, err := cache.get(files, "assets/app-1.js")
	if err != nil {
		t.Fatal(err)
	}
	second, err := cache.get(files, "assets/app-1.js")
	if err != nil || second != first {
		t.Errorf("second get: %p %v, want the first's %p", second, err, first)
	}
	if _, err := cache.get(files, "late.js"); err == nil {
		t.Fatal("missing file compressed")
	}
	files["late.js"] = &fstest.MapFile{Data: appJS}
	if late, err := cache.get(files, "late.js"); err != nil || !bytes.Equal(gunzip(t, late.data), appJS) {
		t.Errorf("file that appeared after a failure: %v", err)
	}
}

// The built app, when this tree has one: every text file is served compressed and
// decompresses to itself.
func TestGzipBuiltApp(t *testing.T) {
	if !app.Built() {
		t.Skip("console/app/dist is not built (make console)")
	}
	s := newStaticServer(t, app.FS())
	var plainTotal, gzipTotal int
	err := fs.WalkDir(app.FS(), ".", func(name string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() || !gzipExtensions[path.Ext(name)] {
			return err
		}
		plain, err := fs.ReadFile(app.FS(), name)
		if err != nil {
			return err
		}
		response := get(s, http.MethodGet, "/"+name, "gzip")
		body, _ := io.ReadAll(response.Body)
		if response.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: not compressed: %v", name, response.Header)
			return nil
		}
		if !bytes.Equal(gunzip(t, body), plain) {
			t.Errorf("%s: decompressed bytes differ from the file", name)
		}
		plainTotal += len(plain)
		gzipTotal += len(body)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built app: %d bytes of text files served as %d gzipped", plainTotal, gzipTotal)
}
