package bench

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// verifyCheckoutCrowd checks a finished run against the database: nothing oversold,
// stock taken only for orders, every placed answer an order and every order
// answered, money and points ledgers balanced, and no buyer told "sold out"
// while stock was left (stock only falls during a run). It returns each
// failed check in words.
func verifyCheckoutCrowd(ctx context.Context, admin *pgxpool.Pool, c checkoutCrowd, placedAnswers int, soldOutOf map[int64]int) ([]string, error) {
	stockProblems, err := verifyCheckoutStock(ctx, admin, c, soldOutOf)
	if err != nil {
		return nil, err
	}
	var orders, units, charged, walletDrift, spent int64
	err = admin.QueryRow(ctx, `SELECT count(*), coalesce(sum(o.charged), 0),
			coalesce((SELECT sum(i.quantity) FROM order_items i JOIN orders o2 ON o2.id = i.order_id WHERE o2.user_id = ANY($1)), 0)
		FROM orders o WHERE o.user_id = ANY($1)`, c.buyers).Scan(&orders, &charged, &units)
	if err != nil {
		return nil, err
	}
	err = admin.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE u.balance <> (SELECT coalesce(sum(delta), 0) FROM balance_ledger l WHERE l.user_id = u.id)
				OR u.points <> (SELECT coalesce(sum(delta), 0) FROM points_ledger l WHERE l.user_id = u.id)),
			coalesce(sum($2 - u.balance), 0)
		FROM users u WHERE u.id = ANY($1)`, c.buyers, int64(checkoutTopUp)).Scan(&walletDrift, &spent)
	if err != nil {
		return nil, err
	}
	p := stockProblems
	if orders != int64(placedAnswers) || units != orders {
		p = append(p, fmt.Sprintf("%d orders holding %d units in the database for %d placed answers", orders, units, placedAnswers))
	}
	if charged != orders*checkoutPrice || spent != charged {
		p = append(p, fmt.Sprintf("orders charged %d won and wallets lost %d won for %d orders at %d", charged, spent, orders, checkoutPrice))
	}
	if walletDrift != 0 {
		p = append(p, fmt.Sprintf("%d wallets disagree with their balance or points ledger", walletDrift))
	}
	return p, nil
}

// verifyCheckoutStock checks each product's stock against its opening stock, its
// stock ledger, the units its orders hold and the sold-out answers it gave.
func verifyCheckoutStock(ctx context.Context, admin *pgxpool.Pool, c checkoutCrowd, soldOutOf map[int64]int) ([]string, error) {
	rows, err := admin.Query(ctx, `SELECT s.product_id, s.opening_stock, s.stock,
			coalesce((SELECT sum(delta) FROM stock_ledger l WHERE l.product_id = s.product_id), 0),
			coalesce((SELECT sum(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id
				WHERE i.product_id = s.product_id AND o.status = 'placed'), 0)
		FROM product_stock s WHERE s.product_id = ANY($1)`, c.products)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var below, oversold, ledgerOff, untracked, wronglySoldOut, seen int
	for rows.Next() {
		var id, opening, left, ledger, ordered int64
		if err := rows.Scan(&id, &opening, &left, &ledger, &ordered); err != nil {
			return nil, err
		}
		seen++
		switch {
		case left < 0:
			below++
		case ordered > opening:
			oversold++
		}
		if left != opening+ledger {
			ledgerOff++
		}
		if opening-left != ordered {
			untracked++
		}
		if left > 0 {
			wronglySoldOut += soldOutOf[id]
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var p []string
	if seen != len(c.products) {
		p = append(p, fmt.Sprintf("%d of %d bench products have no stock row", len(c.products)-seen, len(c.products)))
	}
	if below+oversold > 0 {
		p = append(p, fmt.Sprintf("oversell: %d products below zero stock, %d with more units ordered than stocked", below, oversold))
	}
	if ledgerOff > 0 {
		p = append(p, fmt.Sprintf("%d products' stock disagrees with their stock ledger", ledgerOff))
	}
	if untracked > 0 {
		p = append(p, fmt.Sprintf("%d products lost a different number of units than their orders hold", untracked))
	}
	if wronglySoldOut > 0 {
		p = append(p, fmt.Sprintf("%d buyers told sold out while stock was left", wronglySoldOut))
	}
	return p, nil
}
