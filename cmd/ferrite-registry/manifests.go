package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// go-containerregistry's registry keeps manifests in memory only. The handler here passes every
// request to it and, for each manifest it accepts or deletes, writes or removes a file:
//
//	DIR/manifests/<repository>/_digests/sha256-<hex>.json
//	DIR/manifests/<repository>/_tags/<tag>.json
//
// At start the files are put back into a fresh registry, images before indexes (an index needs
// its manifests), digests before tags. Repository components cannot start with "_", so these
// names never meet a repository's.

var (
	manifestPath = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)
	repoName     = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagName      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	digestName   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// maxManifestSize bounds a manifest read into memory.
const maxManifestSize = 4 << 20

// storedManifest is one manifest file.
type storedManifest struct {
	MediaType string `json:"mediaType"`
	Data      []byte `json:"data"`
}

type persistentHandler struct {
	next http.Handler
	dir  string // DIR/manifests
	log  *slog.Logger
	mu   sync.Mutex // keeps file changes in the registry's order
}

// newHandler returns the registry with blobs on disk under dir/blobs and manifests kept under
// dir/manifests, loaded back from there.
func newHandler(dir string, log *slog.Logger) (http.Handler, error) {
	blobs, manifests := filepath.Join(dir, "blobs"), filepath.Join(dir, "manifests")
	for _, d := range []string{blobs, manifests} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	reg := registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)),
		registry.Logger(slog.NewLogLogger(log.Handler(), slog.LevelDebug)))
	h := &persistentHandler{next: reg, dir: manifests, log: log}
	if err := h.load(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *persistentHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	m := manifestPath.FindStringSubmatch(req.URL.Path)
	if m == nil || (req.Method != http.MethodPut && req.Method != http.MethodDelete) {
		h.next.ServeHTTP(w, req)
		return
	}
	repo, ref := m[1], m[2]
	if !repoName.MatchString(repo) || !(tagName.MatchString(ref) || digestName.MatchString(ref)) {
		http.Error(w, `{"errors":[{"code":"NAME_INVALID","message":"invalid repository or reference"}]}`, http.StatusBadRequest)
		return
	}
	var body []byte
	if req.Method == http.MethodPut {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > maxManifestSize {
			http.Error(w, `{"errors":[{"code":"SIZE_INVALID","message":"manifest too large"}]}`, http.StatusRequestEntityTooLarge)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	rec := newRecorder()
	h.next.ServeHTTP(rec, req)
	var err error
	switch {
	case req.Method == http.MethodPut && rec.code == http.StatusCreated:
		err = h.store(repo, ref, rec.header.Get("Docker-Content-Digest"), storedManifest{MediaType: req.Header.Get("Content-Type"), Data: body})
	case req.Method == http.MethodDelete && rec.code == http.StatusAccepted:
		err = os.Remove(h.file(repo, ref))
		if os.IsNotExist(err) {
			err = nil
		}
	}
	if err != nil {
		// The registry took it in memory but it would not survive a restart: the client retries.
		h.log.Error("keeping manifest", "repository", repo, "reference", ref, "err", err)
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"storing manifest failed"}]}`, http.StatusInternalServerError)
		return
	}
	rec.replay(w)
}

// file is where the manifest of repo known by ref (a digest or a tag) is kept.
func (h *persistentHandler) file(repo, ref string) string {
	if digestName.MatchString(ref) {
		return filepath.Join(h.dir, repo, "_digests", strings.Replace(ref, ":", "-", 1)+".json")
	}
	return filepath.Join(h.dir, repo, "_tags", ref+".json")
}

// store writes the manifest under its digest and, when pushed by tag, under the tag.
func (h *persistentHandler) store(repo, ref, digest string, m storedManifest) error {
	if !digestName.MatchString(digest) {
		return fmt.Errorf("registry answered digest %q", digest)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	for _, r := range []string{digest, ref} {
		if err := writeFileAtomic(h.file(repo, r), b); err != nil {
			return err
		}
	}
	return nil
}

// load puts every kept manifest back into the registry.
func (h *persistentHandler) load() error {
	type entry struct {
		repo, ref string
		m         storedManifest
		order     int // images, then indexes, then tags
	}
	var entries []entry
	err := filepath.WalkDir(h.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, _ := filepath.Rel(h.dir, path)
		parent, name := filepath.Split(rel)
		repo, kind := filepath.Split(strings.TrimSuffix(parent, "/"))
		repo = strings.TrimSuffix(repo, "/")
		ref := strings.TrimSuffix(name, ".json")
		if kind == "_digests" {
			ref = strings.Replace(ref, "-", ":", 1)
		} else if kind != "_tags" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var m storedManifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		order := 0
		if types.MediaType(m.MediaType).IsIndex() {
			order = 1
		}
		if kind == "_tags" {
			order = 2
		}
		entries = append(entries, entry{repo: repo, ref: ref, m: m, order: order})
		return nil
	})
	if err != nil {
		return fmt.Errorf("loading manifests: %w", err)
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].order < entries[j].order })
	for _, e := range entries {
		req, _ := http.NewRequest(http.MethodPut, "/v2/"+e.repo+"/manifests/"+e.ref, bytes.NewReader(e.m.Data))
		req.Header.Set("Content-Type", e.m.MediaType)
		rec := newRecorder()
		h.next.ServeHTTP(rec, req)
		if rec.code != http.StatusCreated {
			return fmt.Errorf("loading manifest %s:%s: status %d: %s", e.repo, e.ref, rec.code, rec.body.String())
		}
	}
	h.log.Info("loaded manifests", "count", len(entries))
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// recorder holds a response until the manifest is on disk.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, code: http.StatusOK} }

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.code)
	w.Write(r.body.Bytes())
}
