package server

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/ferrite-dev/ferrite/console/jsonreply"
	"github.com/ferrite-dev/ferrite/console/session"
)

// notBuiltPage answers the app's paths when the binary was built without the app.
const notBuiltPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Ferrite console</title></head>
<body style="font-family: sans-serif; margin: 3em">
<h1>Ferrite console</h1>
<p>This ferrite-console binary was built without its web app. Run <code>make console</code>, then
build ferrite-console again.</p>
<p>The API proxy under <code>/k8s/</code> and the login under <code>/auth/</code> work without it.</p>
</body>
</html>
`

// assetExtensions are the file types of a built app: a missing file with one of them is 404.
// Other paths that name no file are routes of the app (client-side routing), which get
// index.html, also with a dot, as in /machines/vm.1.
var assetExtensions = map[string]bool{".js": true, ".mjs": true, ".css": true, ".map": true, ".html": true,
	".json": true, ".txt": true, ".png": true, ".svg": true, ".ico": true, ".jpg": true, ".webp": true,
	".woff": true, ".woff2": true, ".ttf": true, ".wasm": true}

// static serves the app's files, and index.html for the app's routes.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	if !session.Safe(r.Method) {
		jsonreply.Error(w, http.StatusMethodNotAllowed, r.URL.Path+" takes GET")
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	route := !strings.HasPrefix(name, "assets/") && !assetExtensions[strings.ToLower(path.Ext(name))]
	if s.config.App == nil {
		if !route {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		io.WriteString(w, notBuiltPage)
		return
	}
	if name == "" || route && !isFile(s.config.App, name) {
		name = "index.html"
	}
	file, err := s.config.App.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer file.Close()
	stat, err := file.Stat()
	if err != nil || !stat.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	content, ok := file.(io.ReadSeeker)
	if !ok {
		data, err := io.ReadAll(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		content = bytes.NewReader(data)
	}
	if strings.HasPrefix(name, "assets/") {
		// Vite names the files under assets/ after their content.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if s.serveGzipped(w, r, name) {
		return
	}
	http.ServeContent(w, r, name, time.Time{}, content)
}

func isFile(files fs.FS, name string) bool {
	stat, err := fs.Stat(files, name)
	return err == nil && stat.Mode().IsRegular()
}
