package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"market/migrations"
)

// ErrEditedMigration: the database applied a version of a migration file
// whose text has changed since. Until the first release the migrations are
// one file per domain, edited in place (migrations/migrations.go), so goose
// alone would call such a database up to date while it lacks what the edit
// added.
type ErrEditedMigration struct{ File string }

func (e ErrEditedMigration) Error() string {
	return fmt.Sprintf("this database was made by an earlier edit of %s (the migrations are edited in place until the first release); start afresh: `make reset` empties the database of `make run` (or drop and create the database named by DATABASE_URL)", e.File)
}

// digestLock serialises instances recording digests at the same moment.
const digestLock = 4243

// checkDigests compares every applied migration with the digest recorded when
// it was applied, and records the digests of those applied without one. It
// forgets the digests of versions no longer applied (`market migrate down`),
// so an edited file can be rolled back and applied again.
func checkDigests(ctx context.Context, pool *pgxpool.Pool, p *goose.Provider) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var migrated bool
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, digestLock); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&migrated); err != nil || !migrated {
			return err // a new database: nothing applied, nothing to compare
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS goose_file_digests (
				version bigint PRIMARY KEY, sha256 text NOT NULL)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM goose_file_digests WHERE version NOT IN
				(SELECT version_id FROM goose_db_version WHERE is_applied)`); err != nil {
			return err
		}
		for _, s := range p.ListSources() {
			sum, err := fileDigest(s.Path)
			if err != nil {
				return err
			}
			var recorded *string
			err = tx.QueryRow(ctx, `SELECT (SELECT sha256 FROM goose_file_digests WHERE version = $1)
				WHERE EXISTS (SELECT FROM goose_db_version WHERE version_id = $1 AND is_applied)`, s.Version).Scan(&recorded)
			switch {
			case err == pgx.ErrNoRows: // not applied yet
			case err != nil:
				return err
			case recorded == nil:
				if _, err := tx.Exec(ctx, `INSERT INTO goose_file_digests VALUES ($1, $2)`, s.Version, sum); err != nil {
					return err
				}
			case *recorded != sum:
				return ErrEditedMigration{File: s.Path}
			}
		}
		return nil
	})
}

func fileDigest(path string) (string, error) {
	b, err := fs.ReadFile(migrations.FS, path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
