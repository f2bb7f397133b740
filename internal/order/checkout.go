package order

import (
	"context"
	"encoding/json"
	"time"
	"unicode/utf8"

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
	// AddressID is the shopper's address to ship to; 0 is the default one.
	// A shopper without an address is refused (CodeAddressRequired).
	AddressID int64
	// ExpectedTotal is the amount the shopper was shown (nil: not sent): the
	// amount to charge (the page's, from the preview) or the subtotal (the
	// cart's JSON, which scripts read). A price or quantity that moved
	// behind the shopper's back changes both, and the checkout is refused.
	ExpectedTotal *int64
	// Lines are the quantities the page showed (nil: not sent). A cart that
	// holds other quantities is refused (CodeCartChanged): a quantity typed
	// but not applied, or changed in another tab, is never ordered silently.
	Lines []Shown
}

// Shown is one cart line as the checkout page showed it.
type Shown struct {
	ProductID, Quantity int64
}

// Validate checks the form's bounds; the rest is decided under lock.
func (in CheckoutInput) Validate() error {
	f := errs.Fields{}
	f.Check(in.Key != "" && utf8.ValidString(in.Key), "idempotency_key",
		"This checkout form is missing its key. Reload the cart and try again.")
	f.Check(utf8.RuneCountInString(in.Key) <= MaxKeyLen, "idempotency_key", "The checkout key can be at most 255 characters.")
	f.Check(in.Points >= 0, "points", "Points cannot be negative.")
	f.Check(in.CouponID >= 0, "coupon_id", "Choose one of your coupons.")
	f.Check(in.AddressID >= 0, "address_id", "Choose one of your addresses.")
	f.Check(in.ExpectedTotal == nil || *in.ExpectedTotal >= 0, "expected_total", "The total shown cannot be negative. Reload the cart and try again.")
	f.Check(len(in.Lines) <= MaxCartLines, "quantity", "The page showed more lines than a cart holds. Reload the cart and try again.")
	for _, l := range in.Lines {
		if l.ProductID <= 0 || l.Quantity < 1 || l.Quantity > MaxQuantity {
			f.Add("quantity", "Choose a quantity from 1 to 99.")
			break
		}
	}
	return f.Err()
}

// Order is an order with what happened to it since it was placed.
type Order struct {
	ID             int64
	UserID         int64
	Status         string // StatusPlaced, StatusPreparing, StatusShipped, StatusDelivered or StatusCancelled
	Subtotal       int64
	Discount       int64
	PointsUsed     int64
	Charged        int64
	PointsEarned   int64
	Refunded       int64 // won given back so far (refunds, a cancel)
	CouponID       *int64
	Items          []Item
	CreatedAt      time.Time
	CancelledAt    *time.Time
	CancelReason   string
	Address        *Address // as it was at checkout (nil on orders placed without one)
	Carrier        string
	TrackingNumber string
	Events         []Event // the timeline, "placed" first; loaded with the lines
}

// Address is where an order ships, copied at checkout.
type Address struct {
	Recipient  string `json:"recipient"`
	Phone      string `json:"phone"`
	PostalCode string `json:"postal_code"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
}

// Item is an order line as bought.
type Item struct {
	ProductID int64
	Name      string
	Price     int64
	Quantity  int64
	Refunded  int64 // units refunded so far
}

func (i Item) Amount() int64 { return i.Price * i.Quantity }

// Event is a step of an order's timeline after it was placed.
type Event struct {
	Status string // placed, preparing, shipped, delivered, cancelled or refunded
	Note   string
	At     time.Time
}

func orderOf(o db.Order, items []db.OrderItem) Order {
	out := Order{ID: o.ID, UserID: o.UserID, Status: o.Status, Subtotal: o.Subtotal, Discount: o.Discount,
		PointsUsed: o.PointsUsed, Charged: o.Charged, PointsEarned: o.PointsEarned, Refunded: o.Refunded, CouponID: o.CouponID,
		CreatedAt: o.CreatedAt, CancelledAt: o.CancelledAt, Items: make([]Item, len(items)),
		Events: []Event{{Status: StatusPlaced, At: o.CreatedAt}}}
	for _, p := range []struct {
		dst *string
		src *string
	}{{&out.CancelReason, o.CancelReason}, {&out.Carrier, o.Carrier}, {&out.TrackingNumber, o.TrackingNumber}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	for i, it := range items {
		out.Items[i] = Item{ProductID: it.ProductID, Name: it.Name, Price: it.Price, Quantity: int64(it.Quantity), Refunded: int64(it.Refunded)}
	}
	if len(o.Address) > 0 {
		var a Address
		if json.Unmarshal(o.Address, &a) == nil { // written by InsertOrder
			out.Address = &a
		}
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
	err = s.inTx(ctx, func(q *db.Queries) error {
		var err error
		o, created, err = s.place(ctx, q, in)
		return err
	})
	return o, created, err
}

// place is one attempt at a checkout, inside the transaction. Its steps take
// their locks in the package's order: the shopper, the coupon, then stock.
func (s *Service) place(ctx context.Context, q *db.Queries, in CheckoutInput) (Order, bool, error) {
	w, rows, err := lockShopper(ctx, q, in.UserID)
	if err != nil {
		return Order{}, false, err
	}
	if prev, found, err := repeatedCheckout(ctx, q, rows, in); found || err != nil {
		return prev, false, err
	}
	cart, err := checkCart(rows, in.Lines)
	if err != nil {
		return Order{}, false, err
	}
	terms, err := lockCoupon(ctx, q, in.CouponID)
	if err != nil {
		return Order{}, false, err
	}
	c, err := price(cart, Held{Balance: w.Balance, Points: w.Points}, in.UserID, terms, in.Points, time.Now())
	// The amount just priced is the one this order charges, so comparing it
	// here (not before the transaction) catches a price or quantity change
	// that races the checkout; it is the more useful answer when the new
	// amount is also more than the balance.
	if e := in.ExpectedTotal; e != nil && (err == nil || errs.Is(err, CodeInsufficientBalance)) && *e != c.Charged && *e != c.Subtotal {
		return Order{}, false, priceChanged(*in.ExpectedTotal, c.Charged)
	}
	if err != nil {
		return Order{}, false, err
	}
	o, err := writeOrder(ctx, q, in, cart, c, terms)
	if err != nil {
		return Order{}, false, err
	}
	if err := s.takeCartStock(ctx, q, cart.Lines); err != nil {
		return Order{}, false, err
	}
	return o, true, nil
}

// lockShopper locks the shopper's row and reads the cart. The lock serialises
// this shopper's checkouts, so repeats of one key (double click, five tabs)
// wait here and then find the order.
func lockShopper(ctx context.Context, q *db.Queries, userID int64) (db.LockShopperRow, []db.CartLinesRow, error) {
	w, err := q.LockShopper(ctx, userID)
	if isNoRows(err) {
		return w, nil, errs.New(errs.NotFound, "We could not find your account.")
	}
	if err != nil {
		return w, nil, err
	}
	rows, err := q.CartLines(ctx, userID)
	return w, rows, err
}

// repeatedCheckout finds the order this key already placed (found), and
// refuses the key when it came with a different request.
func repeatedCheckout(ctx context.Context, q *db.Queries, rows []db.CartLinesRow, in CheckoutInput) (o Order, found bool, err error) {
	prev, err := q.OrderByKey(ctx, db.OrderByKeyParams{UserID: in.UserID, IdempotencyKey: in.Key})
	if isNoRows(err) {
		return Order{}, false, nil
	}
	if err != nil {
		return Order{}, false, err
	}
	items, err := q.OrderItems(ctx, prev.ID)
	if err != nil {
		return Order{}, false, err
	}
	if !sameRequest(prev, items, rows, in) {
		return Order{}, false, errs.New(CodeIdempotencyMismatch, "This checkout form was already used for a different cart. Reload the cart and try again.")
	}
	return orderOf(prev, items), true, nil
}

// checkCart refuses an empty cart, a cart other than the one the page showed,
// and a line already short of stock (an unlocked pre-check: the guarded
// update in takeStock is what decides).
func checkCart(rows []db.CartLinesRow, shown []Shown) (Cart, error) {
	cart, err := cartOf(rows)
	if err != nil {
		return Cart{}, err
	}
	if len(cart.Lines) == 0 && len(shown) > 0 {
		return Cart{}, errCartEmptied
	}
	if len(cart.Lines) == 0 {
		return Cart{}, errCartEmpty
	}
	if shown != nil {
		if err := sameLines(cart, shown); err != nil {
			return Cart{}, err
		}
	}
	for _, l := range cart.Lines {
		if l.Short() {
			return Cart{}, outOfStock(l)
		}
	}
	return cart, nil
}

// sameLines refuses a cart whose lines differ from what the page showed.
func sameLines(cart Cart, shown []Shown) error {
	want := make(map[int64]int64, len(shown))
	for _, l := range shown {
		want[l.ProductID] = l.Quantity
	}
	for _, l := range cart.Lines {
		q, ok := want[l.ProductID]
		if !ok {
			return errs.New(CodeCartChanged, "Your cart changed in another window: it now has %s. Check the cart and place the order again.", l.Name)
		}
		if q != l.Quantity {
			return errs.New(CodeCartChanged, "Your cart has %d × %s, not the %d on the page. Check the cart and place the order again.", l.Quantity, l.Name, q)
		}
		delete(want, l.ProductID)
	}
	if len(want) > 0 {
		return errs.New(CodeCartChanged, "Your cart changed in another window: something on the page is no longer in it. Check the cart and place the order again.")
	}
	return nil
}

// writeOrder writes the order, its lines, the coupon, the wallet, the stock
// ledger and a ledger row for each change, and empties the ordered lines from
// the cart. After the order row (whose id the rest name) and the coupon (whose
// row count says whether it was still unused), the writes go out together in
// one round trip: nothing in them decides anything, the CHECKs still guard.
func writeOrder(ctx context.Context, q *db.Queries, in CheckoutInput, cart Cart, c Quote, cp *couponTerms) (Order, error) {
	var couponID *int64
	if cp != nil {
		couponID = &cp.ID
	}
	row, err := q.InsertOrder(ctx, db.InsertOrderParams{UserID: in.UserID, IdempotencyKey: in.Key, Subtotal: c.Subtotal,
		Discount: c.Discount, PointsUsed: c.PointsUsed, Charged: c.Charged, PointsEarned: c.PointsEarned, CouponID: couponID,
		AddressID: in.AddressID})
	switch {
	case isNoRows(err) && in.AddressID == 0:
		return Order{}, errAddressRequired
	case isNoRows(err):
		return Order{}, &errs.Error{Code: errs.Invalid, Message: "We could not find that address among yours.",
			Fields: map[string]string{"address_id": "We could not find that address among yours."}}
	case err != nil:
		return Order{}, err
	}
	if couponID != nil {
		if err := useCoupon(ctx, q, *couponID, row.ID); err != nil {
			return Order{}, err
		}
	}
	n := len(cart.Lines)
	items := make([]db.OrderItem, n)
	p := db.InsertOrderItemsParams{OrderID: row.ID, ProductIds: make([]int64, n), Names: make([]string, n),
		Prices: make([]int64, n), Quantities: make([]int32, n)}
	deltas := make([]int64, n)
	for i, l := range cart.Lines {
		items[i] = db.OrderItem{OrderID: row.ID, ProductID: l.ProductID, Name: l.Name, Price: l.Price, Quantity: int32(l.Quantity)}
		p.ProductIds[i], p.Names[i], p.Prices[i], p.Quantities[i] = l.ProductID, l.Name, l.Price, int32(l.Quantity)
		deltas[i] = -l.Quantity
	}
	err = q.Pipelined(ctx, func(q *db.Queries) error {
		if err := q.InsertOrderItems(ctx, p); err != nil {
			return err
		}
		if couponID != nil {
			if err := q.InsertCouponEvent(ctx, db.InsertCouponEventParams{CouponID: *couponID, OrderID: row.ID, Event: "used"}); err != nil {
				return err
			}
		}
		if err := moveWallet(ctx, q, in.UserID, &row.ID, -c.Charged, []pointsMove{{-c.PointsUsed, "spent"}, {c.PointsEarned, "earned"}}, "order"); err != nil {
			return err
		}
		if err := q.ClearOrderedLines(ctx, db.ClearOrderedLinesParams{UserID: in.UserID, ProductIds: p.ProductIds}); err != nil {
			return err
		}
		// Written before the stock is taken; a short line refuses the
		// checkout and the rollback undoes these with everything else.
		return q.InsertStockEntries(ctx, db.InsertStockEntriesParams{ProductIds: p.ProductIds, Deltas: deltas, Reason: "order", OrderID: &row.ID, ActorID: &in.UserID})
	})
	if err != nil {
		return Order{}, err
	}
	return orderOf(row, items), nil
}

// useCoupon marks the locked coupon used by the order; its ledger row goes
// out with the order's other writes.
func useCoupon(ctx context.Context, q *db.Queries, couponID, orderID int64) error {
	n, err := q.UseCoupon(ctx, db.UseCouponParams{ID: couponID, OrderID: &orderID})
	if err != nil {
		return err
	}
	if n != 1 {
		return couponInvalid("This coupon has already been used.")
	}
	return nil
}

// takeCartStock takes every line's stock last, in ascending product id
// (CartLines is ordered so), so the hot rows are held only from their update
// to the commit.
func (s *Service) takeCartStock(ctx context.Context, q *db.Queries, lines []Line) error {
	for _, l := range lines {
		if err := s.takeStock(ctx, q, l); err != nil {
			return err
		}
	}
	return nil
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

// PriceChanged refuses a checkout that no longer costs what the shopper was
// shown (CodePriceChanged). Total is the amount to charge now: what to show,
// and to send as the expected total when asking again.
type PriceChanged struct {
	Shown, Total int64
	err          *errs.Error
}

func priceChanged(shown, total int64) *PriceChanged {
	return &PriceChanged{Shown: shown, Total: total, err: errs.New(CodePriceChanged,
		"The total changed since you opened the cart: you saw %s, it is now %s. Check the cart and place the order again.",
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
