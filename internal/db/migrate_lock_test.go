package db_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"market/internal/db"
	"market/internal/testenv"
)

// Instances starting together on a fresh database all start, and every
// migration is applied exactly once: the advisory lock makes the others wait
// for the first and then find nothing pending.
func TestMigratorsStartedAtOnceApplyEachMigrationOnce(t *testing.T) {
	url := testenv.EmptyDB(t)
	ctx := t.Context()
	// goose's version table exists (a `market migrate status` made it), so the
	// instances do not queue on creating it and all see every migration pending.
	setup := testenv.OpenPool(t, url)
	p, err := db.Migrator(setup)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != 0 {
		t.Fatalf("fresh database at version %d (%v)", v, err)
	}
	const instances = 2
	applied := make([]int, instances)
	errs := make([]error, instances)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range instances {
		pool, err := db.Open(ctx, url, 2) // an instance's own pool
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		p, err := db.Migrator(pool)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			results, err := p.Up(ctx)
			applied[i], errs[i] = len(results), err
		})
	}
	close(start)
	wg.Wait()

	want := len(p.ListSources())
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	slices.Sort(applied)
	if !slices.Equal(applied, append(make([]int, instances-1), want)) {
		t.Errorf("migrators applied %v migrations; want all %d by one of them and none by the others", applied, want)
	}
	var rows, versions int
	err = setup.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &versions)
	if err != nil || rows != want || versions != want {
		t.Fatalf("goose_db_version: %d rows for %d versions, want %d each (%v)", rows, versions, want, err)
	}
}
