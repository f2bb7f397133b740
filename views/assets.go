package views

import "market/static"

// Asset is the URL of a static file, versioned by its content hash so that
// browsers may cache it for long.
func Asset(name string) string {
	return "/static/" + name + "?v=" + static.Version(name)
}
