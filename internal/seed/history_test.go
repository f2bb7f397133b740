package seed

import (
	"log/slog"
	"strings"
	"testing"

	"market/internal/consistency"
	"market/internal/testenv"
)

// Generated orders leave every ledger invariant of the consistency report
// green, go through every status of the lifecycle with one event and one
// audit row per admin move, and a second load is refused.
func TestHistoryKeepsTheLedgersConsistentAndRefusesASecondLoad(t *testing.T) {
	ctx := t.Context()
	pool := testenv.DB(t)
	if err := Products(ctx, pool, 300, nil); err != nil {
		t.Fatal(err)
	}
	if err := Shoppers(ctx, pool, 30, nil); err != nil {
		t.Fatal(err)
	}
	var adminID int64
	if err := pool.QueryRow(ctx, `INSERT INTO users (email, password_hash, name, role) VALUES ('admin@example.test', 'x', 'Admin', 'admin') RETURNING id`).Scan(&adminID); err != nil {
		t.Fatal(err)
	}
	if err := History(ctx, pool, 1000, adminID, nil); err != nil {
		t.Fatal(err)
	}

	report, err := consistency.NewService(pool, slog.New(slog.DiscardHandler), nil).Run(ctx, "manual", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range report.Checks {
		if !c.OK {
			t.Errorf("red after seeding orders: %s %s: %d vs %d %s", c.Name, c.Subject, c.Left, c.Right, c.Detail)
		}
	}

	var orders, statuses, moves, audits, unowned, stale int64
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM orders),
		(SELECT count(DISTINCT status) FROM orders),
		(SELECT count(*) FROM order_events WHERE actor_id = $1),
		(SELECT count(*) FROM audit_log WHERE admin_id = $1 AND kind = 'order'),
		(SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.role <> 'shopper' OR u.email = $2),
		(SELECT count(*) FROM orders WHERE created_at < now() - interval '91 days' OR created_at > now())`,
		adminID, DemoShopperEmail).Scan(&orders, &statuses, &moves, &audits, &unowned, &stale); err != nil {
		t.Fatal(err)
	}
	if orders != 1000 || statuses != 5 || moves == 0 || audits != moves || unowned != 0 || stale != 0 {
		t.Fatalf("%d orders in %d statuses, %d admin moves with %d audit rows, %d not a seeded shopper's, %d outside 90 days",
			orders, statuses, moves, audits, unowned, stale)
	}
	// Ids rise with time, as checkout's do.
	var outOfOrder int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (ORDER BY id) AS back FROM orders) x WHERE back`).Scan(&outOfOrder); err != nil {
		t.Fatal(err)
	}
	if outOfOrder != 0 {
		t.Fatalf("%d orders are older than the order before them", outOfOrder)
	}

	err = History(ctx, pool, 10, adminID, nil)
	if err == nil || !strings.Contains(err.Error(), "already there") {
		t.Fatalf("a second load: %v, want a refusal", err)
	}
	if err := HistoryRefused(ctx, pool); err == nil {
		t.Fatal("HistoryRefused found nothing to refuse")
	}
}
