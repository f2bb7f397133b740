package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/testenv"
)

// usedCoupon makes a shopper with a coupon of a new campaign and returns the coupon.
func usedCoupon(t *testing.T, pool *pgxpool.Pool) (coupon int64) {
	t.Helper()
	err := pool.QueryRow(t.Context(), `
		WITH u AS (INSERT INTO users (email, password_hash, name) VALUES ('c' || gen_random_uuid() || '@example.test', 'x', 'Shopper') RETURNING id),
		     k AS (INSERT INTO campaigns (name, discount_type, discount_value, min_order_amount, total_quantity, starts_at, ends_at, state)
		           VALUES ('Sale', 'fixed', 1000, 0, 10, now(), now() + interval '1 day', 'active') RETURNING id)
		INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at)
		SELECT k.id, u.id, now(), now() + interval '7 days' FROM u, k RETURNING id`).Scan(&coupon)
	if err != nil {
		t.Fatal(err)
	}
	return coupon
}

// A coupon can name only an order that exists, and a cancel finds an order's
// coupon through an index, not by reading every coupon.
func TestACouponNamesOnlyAnOrderThatExists(t *testing.T) {
	pool := testenv.DB(t)
	c := usedCoupon(t, pool)
	_, err := pool.Exec(t.Context(), `UPDATE coupons SET status = 'used', order_id = 999999, used_at = now() WHERE id = $1`, c)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23503" || pgErr.ConstraintName != "coupons_order_id_fkey" {
		t.Fatalf("a coupon naming order 999999: %v; want a foreign key violation", err)
	}

	// The query of RestoreCoupon (queries/order.sql), planned as if coupons were large.
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	rows, err := tx.Query(t.Context(), "EXPLAIN UPDATE coupons SET status = 'issued', order_id = NULL, used_at = NULL WHERE order_id = $1 RETURNING id", int64(1))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.String(), "coupons_order_idx") {
		t.Fatalf("giving back an order's coupon does not use coupons_order_idx:\n%s", plan.String())
	}
}
