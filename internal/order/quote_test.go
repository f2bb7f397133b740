package order_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"market/internal/errs"
	"market/internal/order"
)

// The preview prices a cart with the same rule checkout charges: for every
// case the preview's answer (quote or refusal code) is what checkout then
// does, and a refused checkout changes nothing.
func TestPreviewIsWhatCheckoutCharges(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	type coup struct {
		typ             string
		value, cap, min int64
	}
	tests := []struct {
		name          string
		price, qty    int64 // qty 0: empty cart
		balance, held int64 // held: points the shopper has
		coupon        *coup
		points        int64
		want          order.Quote
		code          errs.Code
	}{
		{name: "no coupon, no points", price: 12_345, qty: 2, balance: 100_000,
			want: order.Quote{Subtotal: 24_690, Charged: 24_690, PointsEarned: 246, BalanceAfter: 75_310}},
		{name: "fixed coupon", price: 20_000, qty: 1, balance: 100_000, coupon: &coup{"fixed", 3000, 0, 0},
			want: order.Quote{Subtotal: 20_000, Discount: 3000, Charged: 17_000, PointsEarned: 170, BalanceAfter: 83_000}},
		{name: "percent coupon under its cap", price: 12_345, qty: 3, balance: 100_000, coupon: &coup{"percent", 15, 10_000, 0},
			want: order.Quote{Subtotal: 37_035, Discount: 5555, Charged: 31_480, PointsEarned: 314, BalanceAfter: 68_520}},
		{name: "percent coupon capped", price: 50_000, qty: 2, balance: 200_000, coupon: &coup{"percent", 10, 3000, 0},
			want: order.Quote{Subtotal: 100_000, Discount: 3000, Charged: 97_000, PointsEarned: 970, BalanceAfter: 103_000}},
		{name: "coupon below its minimum", price: 10_000, qty: 2, balance: 100_000, coupon: &coup{"fixed", 3000, 0, 30_000},
			code: order.CodeCouponInvalid},
		{name: "coupon and points", price: 20_000, qty: 2, balance: 100_000, held: 500, coupon: &coup{"percent", 10, 1_000_000, 30_000}, points: 300,
			want: order.Quote{Subtotal: 40_000, Discount: 4000, PointsUsed: 300, Charged: 35_700, PointsEarned: 357, BalanceAfter: 64_300}},
		{name: "points up to all that is left to pay", price: 1000, qty: 1, balance: 0, held: 5000, coupon: &coup{"fixed", 400, 0, 0}, points: 600,
			want: order.Quote{Subtotal: 1000, Discount: 400, PointsUsed: 600, Charged: 0, PointsEarned: 0, BalanceAfter: 0}},
		{name: "points capped by the amount", price: 1000, qty: 1, balance: 10_000, held: 5000, coupon: &coup{"fixed", 400, 0, 0}, points: 601,
			code: errs.Invalid},
		{name: "points capped by those held", price: 10_000, qty: 1, balance: 10_000, held: 100, points: 101,
			code: errs.Invalid},
		{name: "insufficient balance", price: 30_000, qty: 1, balance: 29_999,
			code: order.CodeInsufficientBalance},
		{name: "empty cart", balance: 10_000, code: order.CodeCartEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			u := e.shoppers(1, tt.balance)[0]
			if tt.held > 0 {
				e.exec("UPDATE users SET points = $2 WHERE id = $1", u, tt.held)
				e.exec("INSERT INTO points_ledger (user_id, delta, reason) VALUES ($1, $2, 'earned')", u, tt.held)
			}
			if tt.qty > 0 {
				e.add(u, e.product(tt.price, 10), tt.qty)
			}
			var cp int64
			if c := tt.coupon; c != nil {
				cp = e.coupon(u, c.typ, c.value, c.min, time.Now().Add(time.Hour))
				if c.cap != 0 {
					e.exec("UPDATE campaigns SET max_discount = $1 WHERE id = (SELECT campaign_id FROM coupons WHERE id = $2)", c.cap, cp)
				}
			}

			q, perr := e.svc.Preview(ctx, order.PreviewInput{UserID: u, CouponID: cp, Points: tt.points})
			page, err := e.svc.CheckoutPage(ctx, order.PreviewInput{UserID: u, CouponID: cp, Points: tt.points})
			if err != nil {
				t.Fatal(err)
			}
			if page.Quote != q || codeOf(page.QuoteErr) != codeOf(perr) {
				t.Errorf("the cart page's summary %+v (%v) differs from the preview %+v (%v)", page.Quote, page.QuoteErr, q, perr)
			}
			o, created, cerr := e.svc.Checkout(ctx, order.CheckoutInput{UserID: u, Key: "k", CouponID: cp, Points: tt.points})

			if tt.code != "" {
				if !errs.Is(perr, tt.code) || !errs.Is(cerr, tt.code) {
					t.Fatalf("preview: %v; checkout: %v; want both %s", perr, cerr, tt.code)
				}
				if n := e.count("SELECT count(*) FROM orders WHERE user_id = $1", u); n != 0 {
					t.Errorf("%d orders after a refusal", n)
				}
				// A refused coupon or points leave the subtotal to show.
				if sub := tt.price * tt.qty; q.Subtotal != sub {
					t.Errorf("refused: subtotal %d, want %d", q.Subtotal, sub)
				}
				return
			}
			if perr != nil || cerr != nil || !created {
				t.Fatalf("preview: %v; checkout: %v (created %v)", perr, cerr, created)
			}
			if q != tt.want {
				t.Errorf("preview %+v, want %+v", q, tt.want)
			}
			charged := order.Quote{Subtotal: o.Subtotal, Discount: o.Discount, PointsUsed: o.PointsUsed, Charged: o.Charged,
				PointsEarned: o.PointsEarned, BalanceAfter: e.count("SELECT balance FROM users WHERE id = $1", u)}
			if charged != q {
				t.Errorf("checkout charged %+v, the preview said %+v", charged, q)
			}
		})
	}
	e.consistent()
}

// An insufficient balance is a refusal that still shows the price: the page
// can say how much is missing.
func TestPreviewShowsThePriceWhenTheBalanceFallsShort(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	u := e.shoppers(1, 10_000)[0]
	e.add(u, e.product(12_000, 5), 1)
	q, err := e.svc.Preview(context.Background(), order.PreviewInput{UserID: u})
	if !errs.Is(err, order.CodeInsufficientBalance) {
		t.Fatalf("err %v, want insufficient_balance", err)
	}
	if q.Charged != 12_000 || q.BalanceAfter != -2000 {
		t.Errorf("quote %+v, want ₩12,000 charged and -₩2,000 after", q)
	}
}

// The checkout form sends the amount the preview showed (a script, the
// cart's subtotal); a checkout that would charge another amount on another
// subtotal (a coupon's percent of a new subtotal) is refused with the new
// amount.
func TestCheckoutRefusesAnAmountOtherThanThePreviewed(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	ctx := context.Background()
	u := e.shoppers(1, 100_000)[0]
	p := e.product(10_000, 10)
	cp := e.coupon(u, "percent", 10, 0, time.Now().Add(time.Hour))
	e.add(u, p, 2)
	q, err := e.svc.Preview(ctx, order.PreviewInput{UserID: u, CouponID: cp})
	if err != nil || q.Charged != 18_000 {
		t.Fatalf("preview %+v %v", q, err)
	}
	shown := q.Charged
	e.add(u, p, 3) // another tab
	_, _, err = e.svc.Checkout(ctx, order.CheckoutInput{UserID: u, Key: "k", CouponID: cp, ExpectedTotal: &shown})
	if !errs.Is(err, order.CodePriceChanged) || !strings.Contains(err.Error(), "₩27,000") {
		t.Fatalf("err %v, want price_changed naming ₩27,000", err)
	}
	if n := e.count("SELECT count(*) FROM orders"); n != 0 {
		t.Errorf("%d orders", n)
	}
	// A script that read the cart's subtotal sends that figure instead: it
	// is today's too, so the order goes through.
	subtotal := int64(30_000)
	o, _, err := e.svc.Checkout(ctx, order.CheckoutInput{UserID: u, Key: "k", CouponID: cp, ExpectedTotal: &subtotal})
	if err != nil || o.Charged != 27_000 || o.Items[0].Quantity != 3 {
		t.Fatalf("order %+v %v", o, err)
	}
}

// The checkout form sends the quantities the page showed: a cart that holds
// others (typed but not applied, or changed in another tab) is refused, and
// nothing changes.
func TestCheckoutRefusesQuantitiesOtherThanThoseShown(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	ctx := context.Background()
	u := e.shoppers(1, 100_000)[0]
	p, p2 := e.product(1000, 10), e.product(2000, 10)
	e.add(u, p, 1)
	tests := []struct {
		name  string
		shown []order.Shown
	}{
		{"another quantity", []order.Shown{{ProductID: p, Quantity: 3}}},
		{"a line the cart lacks", []order.Shown{{ProductID: p, Quantity: 1}, {ProductID: p2, Quantity: 1}}},
		{"a line the page lacks", []order.Shown{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.svc.Checkout(ctx, order.CheckoutInput{UserID: u, Key: "k", Lines: tt.shown})
			if !errs.Is(err, order.CodeCartChanged) {
				t.Fatalf("err %v, want cart_changed", err)
			}
			if n := e.count("SELECT count(*) FROM orders"); n != 0 {
				t.Errorf("%d orders", n)
			}
		})
	}
	o, _, err := e.svc.Checkout(ctx, order.CheckoutInput{UserID: u, Key: "k", Lines: []order.Shown{{ProductID: p, Quantity: 1}}})
	if err != nil || o.Items[0].Quantity != 1 {
		t.Fatalf("order %+v %v", o, err)
	}
}

// A cart add above the stock left is refused with the number left, and the
// cart keeps what it had; a sold-out product says so.
func TestCartAddStatesTheStockLimit(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	ctx := context.Background()
	u := e.shoppers(1, 0)[0]
	p, gone := e.product(1000, 2), e.product(1000, 0)
	e.add(u, p, 1)
	_, err := e.svc.SetItem(ctx, u, p, 5)
	if !errs.Is(err, order.CodeOutOfStock) || !strings.Contains(err.Error(), "Only 2 left") {
		t.Fatalf("err %v, want out_of_stock saying only 2 are left", err)
	}
	if _, err := e.svc.SetItem(ctx, u, gone, 1); !errs.Is(err, order.CodeOutOfStock) || !strings.Contains(err.Error(), "sold out") {
		t.Fatalf("err %v, want out_of_stock saying sold out", err)
	}
	// All or nothing: one line over the limit refuses the others too.
	ok := e.product(1000, 10)
	if _, err := e.svc.SetItems(ctx, u, []order.Shown{{ProductID: ok, Quantity: 4}, {ProductID: p, Quantity: 3}}); !errs.Is(err, order.CodeOutOfStock) {
		t.Fatalf("err %v, want out_of_stock", err)
	}
	c, err := e.svc.Cart(ctx, u)
	if err != nil || len(c.Lines) != 1 || c.Lines[0].Quantity != 1 {
		t.Fatalf("cart %+v %v, want the one line of 1 unchanged", c, err)
	}
	if c, err := e.svc.SetItem(ctx, u, p, 2); err != nil || c.Lines[0].Quantity != 2 {
		t.Fatalf("up to the stock left is fine: %+v %v", c, err)
	}
}

func codeOf(err error) errs.Code {
	if e, ok := errs.As(err); ok {
		return e.Code
	}
	if err != nil {
		return "unexpected: " + errs.Code(err.Error())
	}
	return ""
}
