package seed

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/order"
)

// DemoOrders gives the demo shopper a balance and a few past orders, placed
// through the order service so every ledger row is what a real checkout writes.
// It does nothing when the demo shopper already has orders.
func DemoOrders(ctx context.Context, pool *pgxpool.Pool, out io.Writer) error {
	var userID, orders int64
	err := pool.QueryRow(ctx, `SELECT u.id, (SELECT count(*) FROM orders o WHERE o.user_id = u.id) FROM users u WHERE u.email = $1`,
		DemoShopperEmail).Scan(&userID, &orders)
	if err != nil || orders > 0 {
		return err
	}
	svc, err := order.NewService(pool, order.Options{})
	if err != nil {
		return err
	}
	if _, err := svc.TopUp(ctx, userID, 500_000); err != nil {
		return err
	}
	// Popular products with plenty of stock, affordable enough for a few orders.
	rows, err := pool.Query(ctx, `SELECT p.id FROM products p JOIN product_stock s ON s.product_id = p.id
		WHERE s.stock >= 10 AND p.price <= 40000 ORDER BY p.popularity DESC, p.id LIMIT 5`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	baskets := [][]int{{0, 1}, {2}, {3, 4}}
	placed := 0
	for i, b := range baskets {
		for _, j := range b {
			if j < len(ids) {
				if _, err := svc.SetItem(ctx, userID, ids[j], int64(1+j%2)); err != nil {
					return err
				}
			}
		}
		o, _, err := svc.Checkout(ctx, order.CheckoutInput{UserID: userID, Key: fmt.Sprintf("seed-%d", i)})
		if err != nil {
			continue // e.g. too few products seeded: fewer past orders
		}
		placed++
		// Backdate: these are past orders (ledger sums are unchanged).
		for _, q := range []string{
			"UPDATE orders SET created_at = created_at - make_interval(days => $2) WHERE id = $1",
			"UPDATE balance_ledger SET created_at = created_at - make_interval(days => $2) WHERE order_id = $1",
			"UPDATE points_ledger SET created_at = created_at - make_interval(days => $2) WHERE order_id = $1",
			"UPDATE stock_ledger SET created_at = created_at - make_interval(days => $2) WHERE order_id = $1",
		} {
			if _, err := pool.Exec(ctx, q, o.ID, 3*(len(baskets)-i)); err != nil {
				return err
			}
		}
	}
	if _, err := pool.Exec(ctx, "UPDATE balance_ledger SET created_at = created_at - interval '10 days' WHERE user_id = $1 AND reason = 'topup'", userID); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo shopper: ₩500,000 topped up, %d past orders\n", placed)
	return nil
}
