// Package static embeds the stylesheet, htmx and images into the binary.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

//go:embed *.css *.js *.svg
var FS embed.FS

var versions = func() map[string]string {
	m := map[string]string{}
	entries, _ := fs.ReadDir(FS, ".")
	for _, e := range entries {
		b, _ := fs.ReadFile(FS, e.Name())
		sum := sha256.Sum256(b)
		m[e.Name()] = hex.EncodeToString(sum[:4])
	}
	return m
}()

// Version is a short content hash of the named file.
func Version(name string) string { return versions[name] }
