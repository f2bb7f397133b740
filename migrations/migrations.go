// Package migrations holds the goose SQL migrations, embedded into the binary.
package migrations

import "embed"

// FS is every migration, applied in file-name order: one file per domain,
// numbered from 101, because the files before they were squashed used 1–16
// and a database made by those must be told apart (db.Migrate refuses it).
// Until the first release a domain's file is edited in place; db.Migrate
// records each applied file's digest and refuses a database made by an
// earlier edit, with the line that says how to start afresh.
//
//go:embed *.sql
var FS embed.FS
