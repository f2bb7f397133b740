package order

import (
	"context"
	"math"
	"time"

	"market/internal/coupon"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/money"
)

// Line is one cart line at the current price.
type Line struct {
	ProductID int64
	Name      string
	Price     int64
	Quantity  int64
	Stock     int64 // current stock, for warnings; checkout decides under lock
}

// Amount is price × quantity.
func (l Line) Amount() int64 { return l.Price * l.Quantity }

// Short: fewer in stock than this line asks for.
func (l Line) Short() bool { return l.Stock < l.Quantity }

// Cart is a shopper's cart at current prices.
type Cart struct {
	Lines    []Line
	Subtotal int64
	Units    int64 // what the header badge shows
}

// Short: some line cannot be bought as it stands.
func (c Cart) Short() bool {
	for _, l := range c.Lines {
		if l.Short() {
			return true
		}
	}
	return false
}

var errUnknownProduct = &errs.Error{Code: errs.NotFound, Message: "We could not find that product.",
	Fields: map[string]string{"product_id": "We could not find that product."}}

var errCartFull = errs.New(errs.Invalid, "Your cart is full (%d different products). Check out or remove something first.", MaxCartLines)

// SetItem sets the quantity (1–99) of a product in the shopper's cart; see SetItems.
func (s *Service) SetItem(ctx context.Context, userID, productID, quantity int64) (Cart, error) {
	return s.SetItems(ctx, userID, []Shown{{ProductID: productID, Quantity: quantity}})
}

// SetItems sets the quantities of several lines at once (the cart page's
// "Update quantities" without JavaScript), all or nothing. A new product is
// refused when the cart already has MaxCartLines lines; changing a line
// already in the cart is still fine. A quantity above the stock left is
// refused with the number that is left (409 out_of_stock): the shopper
// decides what to do, nothing is clamped behind their back.
func (s *Service) SetItems(ctx context.Context, userID int64, lines []Shown) (Cart, error) {
	f := errs.Fields{}
	f.Check(len(lines) > 0 && len(lines) <= MaxCartLines, "product_id", "Choose a product.")
	for _, l := range lines {
		f.Check(l.ProductID > 0, "product_id", "Choose a product.")
		f.Check(l.Quantity >= 1 && l.Quantity <= MaxQuantity, "quantity", "Choose a quantity from 1 to 99.")
	}
	if err := f.Err(); err != nil {
		return Cart{}, err
	}
	err := s.inTx(ctx, func(q *db.Queries) error {
		// The shopper's row lock makes count-then-insert one step: two adds
		// at once cannot both see 49 lines and both insert.
		if _, err := q.LockShopper(ctx, userID); err != nil {
			if isNoRows(err) {
				return errs.New(errs.NotFound, "We could not find your account.")
			}
			return err
		}
		for _, l := range lines {
			if err := setLine(ctx, q, userID, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Cart{}, err
	}
	return s.Cart(ctx, userID)
}

func setLine(ctx context.Context, q *db.Queries, userID int64, l Shown) error {
	p, err := q.ProductForCart(ctx, l.ProductID)
	if isNoRows(err) {
		return errUnknownProduct
	}
	if err != nil {
		return err
	}
	if p.Stock < l.Quantity {
		return stockLimit(p.Name, p.Stock)
	}
	n, err := q.CartLineCount(ctx, db.CartLineCountParams{UserID: userID, ProductID: l.ProductID})
	if err != nil {
		return err
	}
	if n.Lines >= MaxCartLines && !n.HasLine {
		return errCartFull
	}
	_, err = q.SetCartItem(ctx, db.SetCartItemParams{UserID: userID, ProductID: l.ProductID, Quantity: int32(l.Quantity)})
	if isNoRows(err) {
		return errUnknownProduct
	}
	return err
}

// stockLimit refuses a quantity above the stock left, saying how many are.
func stockLimit(name string, left int64) error {
	var e *errs.Error
	if left <= 0 {
		e = errs.New(CodeOutOfStock, "Sorry, %s is sold out.", name)
	} else {
		e = errs.New(CodeOutOfStock, "Only %d left of %s. Choose %d or fewer.", left, name, left)
	}
	e.Fields = map[string]string{"quantity": e.Message}
	return e
}

// RemoveItem takes a product out of the cart (a product not in it is fine).
func (s *Service) RemoveItem(ctx context.Context, userID, productID int64) (Cart, error) {
	if productID <= 0 {
		return Cart{}, errUnknownProduct
	}
	n, err := s.q.DeleteCartItem(ctx, db.DeleteCartItemParams{UserID: userID, ProductID: productID})
	if err != nil {
		return Cart{}, err
	}
	if n == 0 {
		// Removing a line already gone (a second click) is done; a product
		// that does not exist is not.
		if exists, err := s.q.ProductExists(ctx, productID); err != nil {
			return Cart{}, err
		} else if !exists {
			return Cart{}, errUnknownProduct
		}
	}
	return s.Cart(ctx, userID)
}

// Cart is the shopper's cart at current prices and stock.
func (s *Service) Cart(ctx context.Context, userID int64) (Cart, error) {
	rows, err := s.q.CartLines(ctx, userID)
	if err != nil {
		return Cart{}, err
	}
	return cartOf(rows)
}

func cartOf(rows []db.CartLinesRow) (Cart, error) {
	c := Cart{Lines: make([]Line, 0, len(rows))}
	for _, r := range rows {
		l := Line{ProductID: r.ProductID, Name: r.Name, Price: r.Price, Quantity: int64(r.Quantity), Stock: r.Stock}
		if l.Price > math.MaxInt64/MaxQuantity/MaxCartLines {
			return Cart{}, errs.New(errs.Invalid, "The price of %s is too large to check out.", l.Name)
		}
		c.Lines = append(c.Lines, l)
		c.Subtotal += l.Amount()
		c.Units += l.Quantity
	}
	return c, nil
}

// Units is the number for the header's cart badge.
func (s *Service) Units(ctx context.Context, userID int64) (int64, error) {
	return s.q.CartQuantity(ctx, userID)
}

// CouponOffer is one of the shopper's coupons as the checkout form offers it:
// usable with what it takes off this cart, or not, with the reason.
type CouponOffer struct {
	ID         int64
	CampaignID int64
	Name       string
	Discount   int64  // what it takes off this cart; 0 when it does not apply
	Reason     string // why it does not apply ("" when it does)
	ExpiresAt  time.Time
	terms      couponTerms
}

// Usable: the coupon applies to this cart.
func (c CouponOffer) Usable() bool { return c.Reason == "" }

// CheckoutView is everything the cart page's checkout form needs.
type CheckoutView struct {
	Cart    Cart
	Coupons []CouponOffer // usable ones first
	Balance int64
	Points  int64
	// Choice is the coupon and points the summary prices; Quote is that
	// price, or QuoteErr why the choice cannot be checked out (with Quote
	// still complete when only the balance falls short).
	Choice    PreviewInput
	Quote     Quote
	QuoteErr  error
	Addresses []db.Address // where it can ship, the default first
}

// CheckoutView is the cart with the shopper's coupons and the price of the
// default choice (no coupon, no points).
func (s *Service) CheckoutView(ctx context.Context, userID int64) (CheckoutView, error) {
	return s.CheckoutPage(ctx, PreviewInput{UserID: userID})
}

// CheckoutPage is the cart with the shopper's coupons, each marked usable or
// not for this cart, and the price of the chosen coupon and points (the same
// rule as checkout: price). Coupons claimed a moment ago are synced from
// Redis first (outside any transaction).
func (s *Service) CheckoutPage(ctx context.Context, in PreviewInput) (CheckoutView, error) {
	userID := in.UserID
	if s.opt.Coupons != nil {
		if err := s.opt.Coupons.SyncUser(ctx, userID); err != nil {
			return CheckoutView{}, err
		}
	}
	c, err := s.Cart(ctx, userID)
	if err != nil {
		return CheckoutView{}, err
	}
	w, err := s.q.Wallet(ctx, userID)
	if err != nil {
		return CheckoutView{}, err
	}
	rows, err := s.q.CheckoutCoupons(ctx, userID)
	if err != nil {
		return CheckoutView{}, err
	}
	addresses, err := s.q.ListAddresses(ctx, userID)
	if err != nil {
		return CheckoutView{}, err
	}
	v := CheckoutView{Cart: c, Balance: w.Balance, Points: w.Points, Coupons: []CouponOffer{}, Choice: in, Addresses: addresses}
	now := time.Now()
	var chosen *couponTerms
	for _, r := range rows {
		o := CouponOffer{ID: r.ID, CampaignID: r.CampaignID, Name: r.Name, ExpiresAt: r.ExpiresAt,
			terms: couponTerms{ID: r.ID, UserID: userID, Status: r.Status, ExpiresAt: r.ExpiresAt,
				Discount: coupon.Discount{Type: r.DiscountType, Value: r.DiscountValue, MaxDiscount: r.MaxDiscount, MinOrderAmount: r.MinOrderAmount}}}
		switch {
		case r.Status != "issued":
			o.Reason = "already used"
		case !r.ExpiresAt.After(now):
			o.Reason = "expired"
		case !o.terms.Discount.Applies(c.Subtotal):
			o.Reason = "needs an order of " + money.Won(r.MinOrderAmount)
		default:
			o.Discount = o.terms.Discount.Amount(c.Subtotal)
		}
		if r.ID == in.CouponID {
			chosen = &o.terms
		}
		v.Coupons = append(v.Coupons, o)
	}
	if in.CouponID != 0 && chosen == nil {
		// Not among the recent ones: read it like the preview does.
		v.Quote, v.QuoteErr = s.Preview(ctx, in)
		return v, nil
	}
	v.Quote, v.QuoteErr = price(c, Held{Balance: w.Balance, Points: w.Points}, userID, chosen, in.Points, now)
	return v, nil
}
