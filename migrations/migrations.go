// Package migrations holds the goose SQL migrations, embedded into the binary.
package migrations

import "embed"

// FS is every migration, applied in file-name order.
//
//go:embed *.sql
var FS embed.FS
