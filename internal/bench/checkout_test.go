package bench

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"market/internal/config"
	"market/internal/order"
	"market/internal/testenv"
)

// TestTheCheckoutBenchNamesEveryAnswer: only a 201 carrying the buyer's own
// one-unit order and a 409 out_of_stock are right; every 5xx, every other
// status or body, and no answer at all are counted against the run.
func TestTheCheckoutBenchNamesEveryAnswer(t *testing.T) {
	const right = `{"id":5,"status":"placed","charged":1000,"items":[{"product_id":7,"price":1000,"quantity":1}]}`
	tests := []struct {
		name   string
		status int
		body   string
		want   checkoutAnswer
	}{
		{"placed", 201, right, coPlaced},
		{"sold out", 409, `{"code":"out_of_stock"}`, coSoldOut},
		{"busy is a 5xx", 503, `{"code":"busy"}`, coBusy},
		{"server error", 500, `{"code":"internal"}`, coServerError},
		{"bad gateway", 502, ``, coServerError},
		{"someone else's product", 201, strings.Replace(right, `"product_id":7`, `"product_id":8`, 1), coWrong},
		{"not charged", 201, strings.Replace(right, `"charged":1000`, `"charged":0`, 1), coWrong},
		{"two units", 201, strings.Replace(right, `"quantity":1`, `"quantity":2`, 1), coWrong},
		{"no order in the body", 201, `<html>`, coWrong},
		{"a replayed order", 200, right, coWrong},
		{"another conflict", 409, `{"code":"insufficient_balance"}`, coWrong},
		{"a refusal", 422, `{"code":"invalid_input"}`, coWrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			h := &checkoutHTTP{url: srv.URL, client: srv.Client()}
			if got, detail := h.checkout(&http.Cookie{Name: "s", Value: "x"}, 7); got != tt.want {
				t.Errorf("answer %d %s: got %s (%s), want %s", tt.status, tt.body, coAnswerNames[got], detail, coAnswerNames[tt.want])
			}
		})
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	h := &checkoutHTTP{url: srv.URL, client: srv.Client()}
	if got, _ := h.checkout(&http.Cookie{Name: "s", Value: "x"}, 7); got != coTransport {
		t.Errorf("no server: got %s, want %s", coAnswerNames[got], coAnswerNames[coTransport])
	}
}

// TestTheCheckoutBenchFailsEveryBrokenLedger runs a small crowd through the
// shop's handler (every check passes), then breaks the database one way at a
// time, as an overselling or careless checkout would, and each must be named.
func TestTheCheckoutBenchFailsEveryBrokenLedger(t *testing.T) {
	ctx := t.Context()
	pool := testenv.DB(t)
	cfg, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	svc, err := order.NewService(pool, order.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := newCheckoutHTTP(pool, testenv.Redis(t), cfg, svc, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	// Two products of 5 for 11 buyers: six want the first, five the second.
	crowd, err := seedCheckoutCrowd(ctx, pool, svc, h, "t", "t", 2, 5, 11)
	if err != nil {
		t.Fatal(err)
	}
	res, soldOutOf := driveCheckoutCrowd(ctx, svc, h, crowd, 4)
	if res.count[coPlaced] != 10 || res.count[coSoldOut] != 1 {
		t.Fatalf("answers %v, want 10 placed and 1 sold out", res.count)
	}
	if p, err := verifyCheckoutCrowd(ctx, pool, crowd, res.count[coPlaced], soldOutOf); err != nil || len(p) > 0 {
		t.Fatalf("a right run failed: %v %q", err, p)
	}
	buyer, product, other := crowd.buyers[0], crowd.products[0], crowd.products[1]
	tests := []struct {
		name, spoil, undo string
		args              []any
		placed            int
		soldOutOf         map[int64]int
		want              string
	}{
		// (Stock below zero the table's CHECK refuses by itself.)
		{name: "more sold than the shelf held", spoil: "UPDATE product_stock SET opening_stock = opening_stock - 1 WHERE product_id = $1",
			undo: "UPDATE product_stock SET opening_stock = opening_stock + 1 WHERE product_id = $1", args: []any{product}, want: "oversell"},
		{name: "stock moved without a ledger row", spoil: "UPDATE product_stock SET stock = stock + 1 WHERE product_id = $1", undo: "UPDATE product_stock SET stock = stock - 1 WHERE product_id = $1", args: []any{product}, want: "stock ledger"},
		{name: "more units ordered than stocked", spoil: "UPDATE order_items SET quantity = 6 WHERE product_id = $1 AND order_id = (SELECT max(order_id) FROM order_items WHERE product_id = $1)",
			undo: "UPDATE order_items SET quantity = 1 WHERE product_id = $1 AND quantity = 6", args: []any{product}, want: "more units ordered than stocked"},
		{name: "a placed answer without an order", placed: 1, want: "for 11 placed answers"},
		{name: "sold out with stock left", spoil: "UPDATE product_stock SET stock = stock + 1, opening_stock = opening_stock + 1 WHERE product_id = $1",
			undo: "UPDATE product_stock SET stock = stock - 1, opening_stock = opening_stock - 1 WHERE product_id = $1", args: []any{other},
			soldOutOf: map[int64]int{other: 1}, want: "told sold out while stock was left"},
		{name: "a wallet off its ledger", spoil: "UPDATE users SET balance = balance + 1 WHERE id = $1", undo: "UPDATE users SET balance = balance - 1 WHERE id = $1", args: []any{buyer}, want: "wallets disagree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.spoil != "" {
				if _, err := pool.Exec(ctx, tt.spoil, tt.args...); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if _, err := pool.Exec(ctx, tt.undo, tt.args...); err != nil {
						t.Fatal(err)
					}
				})
			}
			p, err := verifyCheckoutCrowd(ctx, pool, crowd, res.count[coPlaced]+tt.placed, tt.soldOutOf)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(p, "; "), tt.want) {
				t.Errorf("problems %q, want one saying %q", p, tt.want)
			}
		})
	}
}

// The bench leaves the shop as it found it: its products go, its buyers stay
// with nothing (no order, ledger row, cart line or money), and the next run
// uses the same buyers and is judged on its own orders only.
func TestTheCheckoutBenchCleansUpAndReusesItsBuyers(t *testing.T) {
	ctx := t.Context()
	pool := testenv.DB(t)
	svc, err := order.NewService(pool, order.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var first []int64
	for _, run := range []string{"r1", "r2"} {
		crowd, err := seedCheckoutCrowd(ctx, pool, svc, nil, run, "k", 1, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		res, soldOutOf := driveCheckoutCrowd(ctx, svc, nil, crowd, 4)
		if p, err := verifyCheckoutCrowd(ctx, pool, crowd, res.count[coPlaced], soldOutOf); err != nil || len(p) > 0 || res.count[coPlaced] != 3 {
			t.Fatalf("run %s: %v placed, %v %q", run, res.count, err, p)
		}
		if first == nil {
			first = crowd.buyers
		} else if !slices.Equal(first, crowd.buyers) {
			t.Fatalf("second run's buyers %v, want the first's %v", crowd.buyers, first)
		}
		if err := cleanup(ctx, pool); err != nil {
			t.Fatal(err)
		}
		var left int
		err = pool.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM products WHERE sku LIKE 'BENCH-%')
				+ (SELECT count(*) FROM orders WHERE user_id = ANY($1))
				+ (SELECT count(*) FROM balance_ledger WHERE user_id = ANY($1))
				+ (SELECT count(*) FROM points_ledger WHERE user_id = ANY($1))
				+ (SELECT count(*) FROM cart_items WHERE user_id = ANY($1))
				+ (SELECT count(*) FROM users WHERE id = ANY($1) AND (balance <> 0 OR points <> 0))`, crowd.buyers).Scan(&left)
		if err != nil || left != 0 {
			t.Fatalf("after run %s's cleanup %d rows or wallets are left (%v), want 0", run, left, err)
		}
	}
}
