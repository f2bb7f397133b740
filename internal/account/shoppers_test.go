package account

import (
	"slices"
	"testing"
	"time"

	"market/internal/testenv"
)

// A search finds every match newest first, page after page, whether the
// matches are among the newest shoppers (the bounded walk) or all signed
// up long before them (the prefix indexes), and mixed.
func TestShopperSearchPagesThroughOldAndNewMatchesNewestFirst(t *testing.T) {
	ctx := t.Context()
	pool := testenv.DB(t)
	s := NewService(pool, testenv.Redis(t), Limits{PerEmail: 10, PerAddr: 100, Window: time.Minute})
	// Shoppers 1–3,000 "early…", then 3,000 "later…" above them, and a few
	// "early" ones among the newest: the walk sees those, the rest are older.
	_, err := pool.Exec(ctx, `INSERT INTO users (email, password_hash, name)
		SELECT CASE WHEN i <= 3000 OR i % 1000 = 0 THEN 'early' ELSE 'later' END || i || '@example.test', 'x', 'Name ' || i
		FROM generate_series(1, 6000) i ORDER BY i`)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"early", "EARLY1", "name 59", "later5999", "nobody"} {
		var want []int64
		rows, err := pool.Query(ctx, `SELECT id FROM users WHERE starts_with(email, lower($1)) OR starts_with(lower(name), lower($1)) ORDER BY id DESC`, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			want = append(want, id)
		}
		var got []int64
		after := ""
		for page := 0; page < 200; page++ {
			p, err := s.Shoppers(ctx, q, after)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range p.Shoppers {
				got = append(got, x.ID)
			}
			if after = p.Next; after == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: %d shoppers %v…, want %d %v…", q, len(got), got[:min(len(got), 5)], len(want), want[:min(len(want), 5)])
		}
		if len(want) == 0 && q != "nobody" {
			t.Fatalf("%q matched nothing: the test is wrong", q)
		}
	}
}
