// Package static embeds the stylesheet, htmx and images into the binary.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

//go:embed *.css *.js *.svg illustrations/*.svg
var FS embed.FS

var versions = func() map[string]string {
	m := map[string]string{}
	_ = fs.WalkDir(FS, ".", func(name string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := fs.ReadFile(FS, name)
			sum := sha256.Sum256(b)
			m[name] = hex.EncodeToString(sum[:4])
		}
		return nil
	})
	return m
}()

// Version is a short content hash of the named file.
func Version(name string) string { return versions[name] }
