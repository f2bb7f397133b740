package order

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"market/internal/coupon"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/money"
)

// CheckoutInput is the checkout form.
type CheckoutInput struct {
	UserID   int64
	CouponID int64 // 0: no coupon
	Points   int64 // points to spend
	Key      string
	// ExpectedTotal is the subtotal the shopper was shown (nil: not sent).
	// Coupon and points come with the same request and a coupon's terms are
	// fixed once it exists, so the subtotal is the one part of the charge
	// that can move behind the shopper's back.
	ExpectedTotal *int64
}

// Validate checks the form's bounds; the rest is decided under lock.
func (in CheckoutInput) Validate() error {
	f := errs.Fields{}
	f.Check(in.Key != "" && len(in.Key) <= MaxKeyLen && utf8.ValidString(in.Key), "idempotency_key",
		"This checkout form is missing its key. Reload the cart and try again.")
	f.Check(in.Points >= 0, "points", "Points cannot be negative.")
	f.Check(in.CouponID >= 0, "coupon_id", "Choose one of your coupons.")
	f.Check(in.ExpectedTotal == nil || *in.ExpectedTotal >= 0, "expected_total", "The total shown cannot be negative. Reload the cart and try again.")
	return f.Err()
}

// Order is a placed (or cancelled) order.
type Order struct {
	ID           int64
	UserID       int64
	Status       string // placed | cancelled
	Subtotal     int64
	Discount     int64
	PointsUsed   int64
	Charged      int64
	PointsEarned int64
	CouponID     *int64
	Items        []Item
	CreatedAt    time.Time
	CancelledAt  *time.Time
}

// Item is an order line as bought.
type Item struct {
	ProductID int64
	Name      string
	Price     int64
	Quantity  int64
}

func (i Item) Amount() int64 { return i.Price * i.Quantity }

func orderOf(o db.Order, items []db.OrderItem) Order {
	out := Order{ID: o.ID, UserID: o.UserID, Status: o.Status, Subtotal: o.Subtotal, Discount: o.Discount,
		PointsUsed: o.PointsUsed, Charged: o.Charged, PointsEarned: o.PointsEarned, CouponID: o.CouponID,
		CreatedAt: o.CreatedAt, CancelledAt: o.CancelledAt, Items: make([]Item, len(items))}
	for i, it := range items {
		out.Items[i] = Item{ProductID: it.ProductID, Name: it.Name, Price: it.Price, Quantity: int64(it.Quantity)}
	}
	return out
}

// Checkout places the shopper's cart as an order in one transaction: all or
// nothing. created is false when the key was already used for this cart, and
// the first order is returned without charging again.
func (s *Service) Checkout(ctx context.Context, in CheckoutInput) (o Order, created bool, err error) {
	if err := in.Validate(); err != nil {
		return Order{}, false, err
	}
	// A coupon claimed a moment ago may still be only in Redis: persist it
	// now, before the transaction, so no network call happens under locks.
	if in.CouponID != 0 && s.opt.Coupons != nil {
		if err := s.opt.Coupons.SyncUser(ctx, in.UserID); err != nil {
			return Order{}, false, err
		}
	}
	err = s.inTxFinal(ctx, func(q *db.Queries, final *finalStep) error {
		created = false
		var err error
		o, created, err = s.place(ctx, q, final, in)
		return err
	})
	return o, created, err
}

func (s *Service) place(ctx context.Context, q *db.Queries, final *finalStep, in CheckoutInput) (Order, bool, error) {
	// 1. The shopper's row: serialises this shopper's checkouts, so repeats of
	// one key (double click, five tabs) wait here and then find the order.
	w, err := q.LockShopper(ctx, in.UserID)
	if isNoRows(err) {
		return Order{}, false, errs.New(errs.NotFound, "We could not find your account.")
	}
	if err != nil {
		return Order{}, false, err
	}
	rows, err := q.CartLines(ctx, in.UserID)
	if err != nil {
		return Order{}, false, err
	}
	prev, err := q.OrderByKey(ctx, db.OrderByKeyParams{UserID: in.UserID, IdempotencyKey: in.Key})
	if err == nil {
		items, err := q.OrderItems(ctx, prev.ID)
		if err != nil {
			return Order{}, false, err
		}
		if !sameRequest(prev, items, rows, in) {
			return Order{}, false, errs.New(CodeIdempotencyMismatch, "This checkout form was already used for a different cart. Reload the cart and try again.")
		}
		return orderOf(prev, items), false, nil
	}
	if !isNoRows(err) {
		return Order{}, false, err
	}

	cart, err := cartOf(rows)
	if err != nil {
		return Order{}, false, err
	}
	if len(cart.Lines) == 0 {
		return Order{}, false, errs.New(CodeCartEmpty, "Your cart is empty. Add something first.")
	}
	// An unlocked pre-check: a sold-out line fails before any lock is taken.
	// The guarded update below is what actually decides.
	for _, l := range cart.Lines {
		if l.Short() {
			return Order{}, false, outOfStock(l)
		}
	}
	// The prices just read are the ones this order charges, so comparing
	// them here (not before the transaction) catches a price change that
	// races the checkout.
	if in.ExpectedTotal != nil && *in.ExpectedTotal != cart.Subtotal {
		return Order{}, false, priceChanged(*in.ExpectedTotal, cart.Subtotal)
	}

	// 2. The coupon (locked): the shopper's, unused, unexpired, minimum met.
	var discount int64
	var couponID *int64
	if in.CouponID != 0 {
		c, err := q.CouponForCheckout(ctx, in.CouponID)
		if isNoRows(err) || (err == nil && c.UserID != in.UserID) {
			return Order{}, false, couponInvalid("We could not find that coupon among yours.")
		}
		if err != nil {
			return Order{}, false, err
		}
		d := coupon.Discount{Type: c.DiscountType, Value: c.DiscountValue, MaxDiscount: c.MaxDiscount, MinOrderAmount: c.MinOrderAmount}
		switch {
		case c.Status != "issued":
			return Order{}, false, couponInvalid("This coupon has already been used.")
		case !c.ExpiresAt.After(time.Now()):
			return Order{}, false, couponInvalid("This coupon has expired.")
		case !d.Applies(cart.Subtotal):
			return Order{}, false, couponInvalid("This coupon needs an order of at least %s.", money.Won(d.MinOrderAmount))
		}
		discount, couponID = d.Amount(cart.Subtotal), &c.ID
	}

	// 3. Points and balance, against the locked row.
	if in.Points > w.Points {
		return Order{}, false, pointsInvalid("You have %s points; you cannot spend more.", money.Count(w.Points))
	}
	if in.Points > cart.Subtotal-discount {
		return Order{}, false, pointsInvalid("You can spend at most %s points on this order.", money.Count(cart.Subtotal-discount))
	}
	charged := cart.Subtotal - discount - in.Points
	if w.Balance < charged {
		return Order{}, false, errs.New(CodeInsufficientBalance, "Your balance of %s is not enough for %s. Top up on your account page.", money.Won(w.Balance), money.Won(charged))
	}
	earned := charged / 100 // 1% of what was charged, rounded down

	// 4. The order, its lines, the coupon, the wallet, and a ledger row for each change.
	row, err := q.InsertOrder(ctx, db.InsertOrderParams{UserID: in.UserID, IdempotencyKey: in.Key, Subtotal: cart.Subtotal,
		Discount: discount, PointsUsed: in.Points, Charged: charged, PointsEarned: earned, CouponID: couponID})
	if err != nil {
		return Order{}, false, err
	}
	ids := make([]int64, len(cart.Lines))
	names := make([]string, len(cart.Lines))
	prices := make([]int64, len(cart.Lines))
	qtys := make([]int32, len(cart.Lines))
	deltas := make([]int64, len(cart.Lines))
	for i, l := range cart.Lines {
		ids[i], names[i], prices[i], qtys[i], deltas[i] = l.ProductID, l.Name, l.Price, int32(l.Quantity), -l.Quantity
	}
	if err := q.InsertOrderItems(ctx, db.InsertOrderItemsParams{OrderID: row.ID, ProductIds: ids, Names: names, Prices: prices, Quantities: qtys}); err != nil {
		return Order{}, false, err
	}
	if couponID != nil {
		n, err := q.UseCoupon(ctx, db.UseCouponParams{ID: *couponID, OrderID: &row.ID})
		if err != nil {
			return Order{}, false, err
		}
		if n != 1 {
			return Order{}, false, couponInvalid("This coupon has already been used.")
		}
		if err := q.InsertCouponEvent(ctx, db.InsertCouponEventParams{CouponID: *couponID, OrderID: row.ID, Event: "used"}); err != nil {
			return Order{}, false, err
		}
	}
	if err := moveWallet(ctx, q, in.UserID, &row.ID, -charged, []pointsMove{{-in.Points, "spent"}, {earned, "earned"}}, "order"); err != nil {
		return Order{}, false, err
	}
	if err := q.ClearOrderedLines(ctx, db.ClearOrderedLinesParams{UserID: in.UserID, ProductIds: ids}); err != nil {
		return Order{}, false, err
	}

	// 5. Stock last, in ascending product id (CartLines is ordered so): the
	// hot rows are locked by the final statements, so each is held only until
	// the commit. Its ledger rows go first; a failed update rolls them back.
	if err := q.InsertStockEntries(ctx, db.InsertStockEntriesParams{ProductIds: ids, Deltas: deltas, Reason: "order", OrderID: &row.ID, ActorID: &in.UserID}); err != nil {
		return Order{}, false, err
	}
	// Pessimistic: the last line's update goes out with COMMIT in one round
	// trip, so the hottest lock is released without waiting on this process.
	last := len(cart.Lines) - 1
	for i, l := range cart.Lines {
		if i == last && s.opt.Locking == Pessimistic {
			err = takeStockAndCommit(ctx, final.Queries(), l)
		} else {
			err = s.takeStock(ctx, q, l)
		}
		if err != nil {
			return Order{}, false, err
		}
	}
	items := make([]db.OrderItem, len(cart.Lines))
	for i := range cart.Lines {
		items[i] = db.OrderItem{OrderID: row.ID, ProductID: ids[i], Name: names[i], Price: prices[i], Quantity: qtys[i]}
	}
	return orderOf(row, items), true, nil
}

// takeStockAndCommit is the pessimistic guarded update sent with COMMIT; a
// short stock fails the statement (so the COMMIT behind it is skipped).
func takeStockAndCommit(ctx context.Context, final *db.Queries, l Line) error {
	err := final.TakeStockOrAbort(ctx, db.TakeStockOrAbortParams{ProductID: l.ProductID, Quantity: l.Quantity})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "22012" { // division_by_zero: the guard matched no row
		return errs.New(CodeOutOfStock, "Sorry, %s just sold out, or fewer are left than you asked for.", l.Name)
	}
	return err
}

// takeStock deducts one line's stock under the configured strategy.
func (s *Service) takeStock(ctx context.Context, q *db.Queries, l Line) error {
	if s.opt.Locking == Pessimistic {
		// One guarded statement: it waits for the row lock, then checks and deducts.
		n, err := q.TakeStockGuarded(ctx, db.TakeStockGuardedParams{ProductID: l.ProductID, Quantity: l.Quantity})
		if err != nil {
			return err
		}
		if n != 1 {
			return errs.New(CodeOutOfStock, "Sorry, %s just sold out, or fewer are left than you asked for.", l.Name)
		}
		return nil
	}
	// Optimistic: read without a lock, write only if the version is unchanged;
	// when someone else got there first, read again (bounded, with jitter).
	for try := 0; ; try++ {
		cur, err := q.ReadStock(ctx, l.ProductID)
		if err != nil {
			return err
		}
		if cur.Stock < l.Quantity {
			l.Stock = cur.Stock
			return outOfStock(l)
		}
		n, err := q.TakeStockVersioned(ctx, db.TakeStockVersionedParams{ProductID: l.ProductID, NewStock: cur.Stock - l.Quantity, Version: cur.Version})
		if err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		s.retries.Add(1)
		if try+1 >= s.opt.StaleRetries {
			return errBusy
		}
		if err := sleep(ctx, jitter(try, 500*time.Microsecond, 20*time.Millisecond)); err != nil {
			return err
		}
	}
}

// sameRequest: a repeat of the key is the same checkout when it asks for the
// same coupon and points, and the cart is either what was ordered or empty
// (the first submission emptied it).
func sameRequest(prev db.Order, items []db.OrderItem, cart []db.CartLinesRow, in CheckoutInput) bool {
	var prevCoupon int64
	if prev.CouponID != nil {
		prevCoupon = *prev.CouponID
	}
	if prevCoupon != in.CouponID || prev.PointsUsed != in.Points {
		return false
	}
	if len(cart) == 0 {
		return true
	}
	if len(cart) != len(items) {
		return false
	}
	for i := range cart {
		if cart[i].ProductID != items[i].ProductID || cart[i].Quantity != items[i].Quantity {
			return false
		}
	}
	return true
}

type pointsMove struct {
	delta  int64
	reason string
}

// moveWallet changes balance and points and writes a ledger row for every
// non-zero change.
func moveWallet(ctx context.Context, q *db.Queries, userID int64, orderID *int64, balance int64, points []pointsMove, balanceReason string) error {
	var pts int64
	for _, p := range points {
		pts += p.delta
	}
	if err := q.MoveWallet(ctx, db.MoveWalletParams{ID: userID, BalanceDelta: balance, PointsDelta: pts}); err != nil {
		return err
	}
	if balance != 0 {
		if err := q.InsertBalanceEntry(ctx, db.InsertBalanceEntryParams{UserID: userID, Delta: balance, Reason: balanceReason, OrderID: orderID}); err != nil {
			return err
		}
	}
	for _, p := range points {
		if p.delta == 0 {
			continue
		}
		if err := q.InsertPointsEntry(ctx, db.InsertPointsEntryParams{UserID: userID, Delta: p.delta, Reason: p.reason, OrderID: orderID}); err != nil {
			return err
		}
	}
	return nil
}

func outOfStock(l Line) error {
	if l.Stock <= 0 {
		return errs.New(CodeOutOfStock, "Sorry, %s just sold out. Remove it from your cart to check out the rest.", l.Name)
	}
	return errs.New(CodeOutOfStock, "Sorry, only %d of %s are left. Lower the quantity to check out.", l.Stock, l.Name)
}

// PriceChanged refuses a checkout whose cart no longer costs what the shopper
// was shown (CodePriceChanged). Total is the subtotal at today's prices: what
// to show, and to send as the expected total when asking again.
type PriceChanged struct {
	Shown, Total int64
	err          *errs.Error
}

func priceChanged(shown, total int64) *PriceChanged {
	return &PriceChanged{Shown: shown, Total: total, err: errs.New(CodePriceChanged,
		"Prices changed since you opened the cart: you saw %s, it is now %s. Check the cart and place the order again.",
		money.Won(shown), money.Won(total))}
}

func (e *PriceChanged) Error() string { return e.err.Error() }

// Unwrap lets errs.As find the code and message.
func (e *PriceChanged) Unwrap() error { return e.err }

func couponInvalid(format string, args ...any) error {
	e := errs.New(CodeCouponInvalid, format, args...)
	e.Fields = map[string]string{"coupon_id": e.Message}
	return e
}

func pointsInvalid(format string, args ...any) error {
	e := errs.New(errs.Invalid, format, args...)
	e.Fields = map[string]string{"points": e.Message}
	return e
}
