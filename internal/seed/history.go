package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OrderDays is how far back generated orders go.
const OrderDays = 90

// historyStock are the stock thresholds History tries, lowest first: the
// products it sells from hold at least this much, and the most units any
// one of them is sold must fit under it, so no stock goes below zero.
var historyStock = []int64{10, 20, 50, 100, 200, 500, 1000, 5000}

// maxLineQuantity is the most units a generated line buys.
const maxLineQuantity = 2

// History loads n past orders over the seeded shoppers (every shopper but
// the demo one), set-based in one transaction: their lines, the stock,
// balance and points ledgers a checkout writes, a top-up per shopper that
// paid for them, and the lifecycle since (docs/ORDERS.md): placed, preparing,
// shipped and delivered by age, a tenth cancelled (half by the shopper, half
// by adminID with a reason, refunded and restocked), each admin move with
// its order event and audit row. The consistency report stays green.
//
// Orders are spread over the last OrderDays days, their ids rising with
// their time as a real shop's do. It refuses when any shopper but the demo
// one already has orders: it is meant for a database of its own.
func History(ctx context.Context, pool *pgxpool.Pool, n int, adminID int64, out io.Writer) error {
	if n <= 0 {
		return nil
	}
	if out == nil {
		out = io.Discard
	}
	start := time.Now()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := historyCanStart(ctx, tx); err != nil {
			return err
		}
		if err := planHistory(ctx, tx, n, out); err != nil {
			return err
		}
		return writeHistory(ctx, tx, adminID, out)
	})
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "ANALYZE orders, order_items, order_events, balance_ledger, points_ledger, stock_ledger, audit_log, users, product_stock"); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d orders seeded in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// HistoryRefused says why History would refuse this database (nil: it
// would not), so that a seed can stop before its other, slower work.
func HistoryRefused(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return historyCanStart(ctx, tx) })
}

// historyCanStart refuses a database whose shoppers already have orders
// (the demo shopper's own are fine), and locks orders against inserts
// meanwhile: History gives orders ids of its own.
func historyCanStart(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "LOCK TABLE orders IN EXCLUSIVE MODE"); err != nil {
		return err
	}
	var taken int64
	err := tx.QueryRow(ctx, `SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email <> $1`, DemoShopperEmail).Scan(&taken)
	if err != nil {
		return err
	}
	if taken > 0 {
		return fmt.Errorf("seed -orders: %d orders of other shoppers than the demo one are already there; seed orders into a database of their own (make reset)", taken)
	}
	return nil
}

// planHistory draws the orders and their lines into two temporary tables:
// seed_plan (one row per order, its id, shopper, time and status) and
// seed_items (its lines). Lines take products in a fixed stride over the
// eligible ones, so each product is sold about equally often.
func planHistory(ctx context.Context, tx pgx.Tx, n int, out io.Writer) error {
	t := time.Now()
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE seed_shoppers ON COMMIT DROP AS
		SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, name FROM users
		WHERE role = 'shopper' AND email <> $1 AND disabled_at IS NULL`, DemoShopperEmail); err != nil {
		return err
	}
	var shoppers int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM seed_shoppers").Scan(&shoppers); err != nil {
		return err
	}
	if shoppers == 0 {
		return errors.New("seed -orders: there are no shoppers to order; add -shoppers N")
	}
	if _, err := tx.Exec(ctx, "CREATE INDEX ON seed_shoppers (k)"); err != nil {
		return err
	}
	return planOrders(ctx, tx, n, shoppers, t, out)
}

// planOrders writes seed_plan and seed_items over the shoppers of seed_shoppers.
func planOrders(ctx context.Context, tx pgx.Tx, n int, shoppers int64, t time.Time, out io.Writer) error {
	products, stride, err := pickProducts(ctx, tx, n)
	if err != nil {
		return err
	}
	var first int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(id), 0) + 1 FROM orders").Scan(&first); err != nil {
		return err
	}
	// setseed makes random() repeatable within this session: the same
	// database and n draw the same orders (their times relative to now).
	if _, err := tx.Exec(ctx, "SELECT setseed(0.42)"); err != nil {
		return err
	}
	// Shoppers are skewed as a shop's are (the k-th is drawn with density
	// ∝ 1/√k): at a million orders over 100,000 shoppers the first has about
	// 3,000 and most have 5 to 20, so history pages run deep. Status by
	// age: a day or two placed, then preparing, shipped, and delivered after
	// a week; a tenth of every age cancelled. Lines 1–3.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE seed_plan ON COMMIT DROP AS
		WITH g AS (
			SELECT i, now() - random() * make_interval(days => $2) AS created_at, random() AS r,
			       least(floor($4 * random() ^ 2), $4 - 1)::bigint AS k
			FROM generate_series(0, $1::bigint - 1) i
		)
		SELECT $3::bigint + row_number() OVER (ORDER BY g.created_at, g.i) - 1 AS id, g.i, g.created_at, s.id AS user_id, s.k, s.name,
		       1 + (g.i % 3 = 0)::int + (g.i % 7 = 0)::int AS lines,
		       CASE WHEN g.r < 0.1 THEN 'cancelled'
		            WHEN g.created_at > now() - interval '2 days' THEN 'placed'
		            WHEN g.created_at > now() - interval '4 days' THEN 'preparing'
		            WHEN g.created_at > now() - interval '8 days' THEN 'shipped'
		            ELSE 'delivered' END AS status,
		       now() - g.created_at AS age
		FROM g JOIN seed_shoppers s ON s.k = g.k`, n, OrderDays, first, shoppers); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE seed_items ON COMMIT DROP AS
		SELECT p.id AS order_id, pr.id AS product_id, pr.name, pr.price,
		       1 + ((p.i * 3 + l) % 5 = 0)::int AS quantity, p.status, p.created_at, p.age, p.user_id, p.i
		FROM seed_plan p
		CROSS JOIN LATERAL generate_series(0, p.lines - 1) l
		JOIN seed_products pr ON pr.k = ((p.i * 3 + l) * $1) % $2`, stride, products); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "ANALYZE seed_plan; ANALYZE seed_items"); err != nil {
		return err
	}
	fmt.Fprintf(out, "orders planned over %d shoppers and %d products in %s\n", shoppers, products, time.Since(t).Round(time.Millisecond))
	return nil
}

// pickProducts fills seed_products with the products n orders may sell:
// those holding at least the lowest threshold under which the most any one
// of them is sold still fits. It returns how many there are and the stride
// (coprime with their count) lines step through them by.
func pickProducts(ctx context.Context, tx pgx.Tx, n int) (int64, int64, error) {
	slots := int64(n) * 3 // lines per order are at most 3
	for _, least := range historyStock {
		var count int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM product_stock WHERE stock >= $1", least).Scan(&count); err != nil {
			return 0, 0, err
		}
		if count < 3 || (slots+count-1)/count*maxLineQuantity > least {
			continue
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE seed_products ON COMMIT DROP AS
			SELECT row_number() OVER (ORDER BY p.id) - 1 AS k, p.id, p.name, p.price
			FROM product_stock s JOIN products p ON p.id = s.product_id WHERE s.stock >= $1`, least); err != nil {
			return 0, 0, err
		}
		if _, err := tx.Exec(ctx, "CREATE INDEX ON seed_products (k); ANALYZE seed_products"); err != nil {
			return 0, 0, err
		}
		stride := int64(7919) // coprime with count, so k·stride mod count visits every product
		for gcd(stride, count) != 1 {
			stride++
		}
		return count, stride, nil
	}
	return 0, 0, fmt.Errorf("seed -orders %d: too little stock to sell from; seed more products (-products)", n)
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// The statements that turn seed_plan and seed_items into the shop's rows,
// in order. $1, where a statement has it, is the admin who moved the
// orders on (NULL: none, and no audit rows).
var historyWrites = []struct{ what, sql string }{
	{"orders", `INSERT INTO orders (id, user_id, idempotency_key, status, subtotal, charged, points_earned, created_at,
			cancelled_at, cancel_reason, address, carrier, tracking_number, refunded, points_clawed)
		SELECT p.id, p.user_id, 'seed-history-' || p.id, p.status, t.subtotal, t.subtotal, t.subtotal / 100, p.created_at,
		       CASE WHEN p.status = 'cancelled' THEN p.created_at + p.age * 0.1 END,
		       CASE WHEN p.status = 'cancelled' AND p.i % 2 = 1 THEN 'Out of stock at the warehouse' END,
		       jsonb_build_object('recipient', p.name, 'phone', '010' || lpad((p.k % 100000000)::text, 8, '0'),
		           'postal_code', (10000 + p.k % 90000)::text, 'line1', (1 + p.k % 300) || ' Teheran-ro, Gangnam-gu, Seoul', 'line2', ''),
		       CASE WHEN p.status IN ('shipped', 'delivered') THEN 'CJ Logistics' END,
		       CASE WHEN p.status IN ('shipped', 'delivered') THEN lpad(p.id::text, 12, '0') END,
		       CASE WHEN p.status = 'cancelled' THEN t.subtotal ELSE 0 END,
		       CASE WHEN p.status = 'cancelled' THEN t.subtotal / 100 ELSE 0 END
		FROM seed_plan p JOIN (SELECT order_id, sum(price * quantity) AS subtotal FROM seed_items GROUP BY order_id) t ON t.order_id = p.id
		ORDER BY p.id`},
	{"order lines", `INSERT INTO order_items (order_id, product_id, name, price, quantity)
		SELECT order_id, product_id, name, price, quantity FROM seed_items ORDER BY order_id, product_id`},
	// Each move by the admin; a cancel by the shopper (even i) or the admin.
	{"order events", `INSERT INTO order_events (order_id, status, note, actor_id, created_at)
		SELECT e.* FROM (
			SELECT p.id, 'preparing', '', $1::bigint, p.created_at + p.age * 0.25 AS at FROM seed_plan p WHERE p.status IN ('preparing', 'shipped', 'delivered')
			UNION ALL
			SELECT p.id, 'shipped', 'CJ Logistics ' || lpad(p.id::text, 12, '0'), $1, p.created_at + p.age * 0.5 FROM seed_plan p WHERE p.status IN ('shipped', 'delivered')
			UNION ALL
			SELECT p.id, 'delivered', '', $1, p.created_at + p.age * 0.75 FROM seed_plan p WHERE p.status = 'delivered'
			UNION ALL
			SELECT p.id, 'cancelled', CASE WHEN p.i % 2 = 1 THEN 'Out of stock at the warehouse' ELSE '' END,
			       CASE WHEN p.i % 2 = 1 THEN $1::bigint ELSE p.user_id END, p.created_at + p.age * 0.1 FROM seed_plan p WHERE p.status = 'cancelled'
		) e ORDER BY e.at`},
	// The audit row each admin move writes (internal/order/lifecycle.go).
	{"audit rows", `INSERT INTO audit_log (admin_id, kind, action, subject, before, after, created_at)
		SELECT e.actor_id, 'order', CASE e.status WHEN 'cancelled' THEN 'cancel' ELSE e.status END, 'order ' || e.order_id,
		       jsonb_build_object('status', CASE e.status WHEN 'preparing' THEN 'placed' WHEN 'shipped' THEN 'preparing'
		                                                  WHEN 'delivered' THEN 'shipped' ELSE 'placed' END),
		       CASE e.status
		           WHEN 'shipped' THEN jsonb_build_object('status', 'shipped', 'carrier', o.carrier, 'tracking_number', o.tracking_number)
		           WHEN 'cancelled' THEN jsonb_build_object('status', 'cancelled', 'refunded', o.charged, 'reason', o.cancel_reason)
		           ELSE jsonb_build_object('status', e.status) END,
		       e.created_at
		FROM order_events e JOIN orders o ON o.id = e.order_id
		WHERE $1::bigint IS NOT NULL AND e.actor_id = $1 AND e.order_id >= (SELECT min(id) FROM seed_plan)
		ORDER BY e.created_at, e.id`},
	// Ledgers in time order: a top-up before each shopper's first order
	// that paid for all of them and a little more, each order's charge and
	// points, and what a cancel gave back.
	{"balance ledger", `INSERT INTO balance_ledger (user_id, delta, reason, order_id, created_at)
		SELECT l.* FROM (
			SELECT p.user_id, sum(o.charged) + 10000 + min(p.k) % 50 * 1000, 'topup', NULL::bigint, min(p.created_at) - interval '1 hour' AS at
			FROM seed_plan p JOIN orders o ON o.id = p.id GROUP BY p.user_id
			UNION ALL
			SELECT o.user_id, -o.charged, 'order', o.id, o.created_at FROM seed_plan p JOIN orders o ON o.id = p.id
			UNION ALL
			SELECT o.user_id, o.refunded, 'refund', o.id, o.cancelled_at FROM seed_plan p JOIN orders o ON o.id = p.id WHERE o.status = 'cancelled'
		) l ORDER BY l.at`},
	{"points ledger", `INSERT INTO points_ledger (user_id, delta, reason, order_id, created_at)
		SELECT l.* FROM (
			SELECT o.user_id, o.points_earned, 'earned', o.id, o.created_at AS at FROM seed_plan p JOIN orders o ON o.id = p.id WHERE o.points_earned > 0
			UNION ALL
			SELECT o.user_id, -o.points_clawed, 'clawback', o.id, o.cancelled_at FROM seed_plan p JOIN orders o ON o.id = p.id WHERE o.points_clawed > 0
		) l ORDER BY l.at`},
	{"stock ledger", `INSERT INTO stock_ledger (product_id, delta, reason, order_id, actor_id, created_at)
		SELECT l.* FROM (
			SELECT i.product_id, -i.quantity::bigint, 'order', i.order_id, i.user_id, i.created_at AS at FROM seed_items i
			UNION ALL
			SELECT i.product_id, i.quantity::bigint, 'order cancelled', i.order_id, CASE WHEN i.i % 2 = 1 THEN $1::bigint ELSE i.user_id END,
			       i.created_at + i.age * 0.1 FROM seed_items i WHERE i.status = 'cancelled'
		) l ORDER BY l.at`},
	{"wallets", `UPDATE users u SET balance = u.balance + t.balance, points = u.points + t.points
		FROM (SELECT p.user_id,
		             sum(CASE WHEN p.status = 'cancelled' THEN 0 ELSE -o.charged END) + sum(o.charged) + 10000 + min(p.k) % 50 * 1000 AS balance,
		             sum(o.points_earned - o.points_clawed) AS points
		      FROM seed_plan p JOIN orders o ON o.id = p.id GROUP BY p.user_id) t
		WHERE u.id = t.user_id`},
	{"stock", `UPDATE product_stock s SET stock = s.stock - t.sold, version = s.version + 1
		FROM (SELECT product_id, sum(quantity) AS sold FROM seed_items WHERE status <> 'cancelled' GROUP BY product_id) t
		WHERE s.product_id = t.product_id`},
	{"order ids", `SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders))`},
}

// writeHistory runs historyWrites, printing each one's time.
func writeHistory(ctx context.Context, tx pgx.Tx, adminID int64, out io.Writer) error {
	var admin *int64
	if adminID > 0 {
		admin = &adminID
	}
	for _, w := range historyWrites {
		t := time.Now()
		var args []any
		if strings.Contains(w.sql, "$1") {
			args = []any{admin}
		}
		tag, err := tx.Exec(ctx, w.sql, args...)
		if err != nil {
			return fmt.Errorf("seed -orders, %s: %w", w.what, err)
		}
		fmt.Fprintf(out, "%-15s %9d rows in %s\n", w.what, tag.RowsAffected(), time.Since(t).Round(time.Millisecond))
	}
	return nil
}
