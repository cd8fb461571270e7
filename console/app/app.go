// Package app embeds the web console's built single-page app (console/app/dist, made by
// `make console` from the npm project in this directory).
package app

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// FS is the built app, rooted at its index.html. Before `make console` it holds only .gitkeep.
func FS() fs.FS {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "dist" is valid.
		panic(err)
	}
	return files
}

// Built says whether the app was built into this binary.
func Built() bool {
	_, err := fs.Stat(FS(), "index.html")
	return err == nil
}
