package consistency

import (
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/testenv"
)

func TestStockDriftTurnsTheReportRedOnExactlyThatProduct(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	mustExec := execer(t, pool)
	mustExec(`INSERT INTO categories (id, slug, name) VALUES (1, 'audio', 'Audio')`)
	for id := 1; id <= 3; id++ {
		mustExec(`INSERT INTO products (id, sku, name, brand, category_id, price) VALUES ($1::bigint, 'SKU-'||$1::text, 'Product '||$1::text, 'Brand', 1, 1000)`, id)
		mustExec(`INSERT INTO product_stock (product_id, stock, opening_stock) VALUES ($1, 10, 10)`, id)
	}
	// A legitimate change: stock and ledger move together.
	mustExec(`UPDATE product_stock SET stock = 7 WHERE product_id = 2`)
	mustExec(`INSERT INTO stock_ledger (product_id, delta, reason) VALUES (2, -3, 'order 1')`)

	s := NewService(pool, slog.New(slog.DiscardHandler), nil)
	r, err := s.Run(ctx, "manual", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Checks[0].Left != 3 || r.Checks[0].Right != 3 {
		t.Fatalf("clean shop should be green: %+v", r)
	}

	// Edited behind the app's back: product 3's stock with no ledger row.
	mustExec(`UPDATE product_stock SET stock = 12 WHERE product_id = 3`)
	r, err = s.Run(ctx, "manual", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Failed() != 2 {
		t.Fatalf("want the summary and product 3 red: %+v", r.Checks)
	}
	bad := r.Checks[1]
	if bad.Subject != "product 3 (Product 3)" || bad.Left != 12 || bad.Right != 10 {
		t.Fatalf("wrong drift row: %+v", bad)
	}

	// A ledger row removed: product 2 now disagrees too (7 vs 10).
	mustExec(`DELETE FROM stock_ledger WHERE product_id = 2`)
	r, _ = s.Run(ctx, "schedule", nil)
	if r.Failed() != 3 || r.Checks[1].Subject != "product 2 (Product 2)" || r.Checks[1].Left != 7 || r.Checks[1].Right != 10 {
		t.Fatalf("after ledger delete: %+v", r.Checks)
	}

	// Every run is stored and comes back the same.
	got, err := s.Get(ctx, r.ID)
	if err != nil || got.OK || len(got.Checks) != len(r.Checks) || got.Trigger != "schedule" {
		t.Fatalf("stored run: %+v (%v)", got, err)
	}
	hist, err := s.History(ctx, 10)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %d (%v)", len(hist), err)
	}
}

// TestInStockDriftTurnsTheReportRedOnThatProduct writes products.in_stock
// behind the trigger's back, both ways, and reads each back from the report.
func TestInStockDriftTurnsTheReportRedOnThatProduct(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	mustExec := execer(t, pool)
	mustExec(`INSERT INTO categories (id, slug, name) VALUES (1, 'audio', 'Audio')`)
	for id := 1; id <= 4; id++ {
		mustExec(`INSERT INTO products (id, sku, name, brand, category_id, price) VALUES ($1::bigint, 'SKU-'||$1::text, 'Product '||$1::text, 'Brand', 1, 1000)`, id)
		mustExec(`INSERT INTO product_stock (product_id, stock, opening_stock) VALUES ($1, $2, $2)`, id, []int{10, 0, 10, 0}[id-1])
	}
	s := NewService(pool, slog.New(slog.DiscardHandler), nil)
	search := func() []Check {
		t.Helper()
		r, err := s.Run(ctx, "manual", nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []Check
		for _, c := range r.Checks {
			if c.Name == nameSearchCopy {
				out = append(out, c)
			}
		}
		return out
	}
	if c := search(); len(c) != 1 || !c[0].OK || c[0].Left != 4 || c[0].Right != 4 {
		t.Fatalf("a clean shop's in_stock should agree: %+v", c)
	}

	mustExec(`UPDATE products SET in_stock = false WHERE id = 1`)
	mustExec(`UPDATE products SET in_stock = true WHERE id = 2`)
	want := []Check{
		{Subject: "all 4 products", Left: 2, Right: 4},
		{Subject: "product 1 (Product 1)", Left: 0, Right: 1},
		{Subject: "product 2 (Product 2)", Left: 1, Right: 0},
	}
	got := search()
	if len(got) != len(want) {
		t.Fatalf("want %d rows, got %+v", len(want), got)
	}
	for i, w := range want {
		if g := got[i]; g.OK || g.Subject != w.Subject || g.Left != w.Left || g.Right != w.Right || g.Detail == "" {
			t.Errorf("row %d: got %+v, want %+v", i, g, w)
		}
	}
}

// execer returns a function that runs a statement on pool or fails the test.
func execer(t *testing.T, pool *pgxpool.Pool) func(sql string, args ...any) {
	return func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(t.Context(), sql, args...); err != nil {
			t.Fatal(err)
		}
	}
}
