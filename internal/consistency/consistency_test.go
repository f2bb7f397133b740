package consistency

import (
	"log/slog"
	"testing"

	"market/internal/testenv"
)

func TestStockDriftTurnsTheReportRedOnExactlyThatProduct(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	mustExec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
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
