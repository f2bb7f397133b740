package order

import (
	"context"
	"time"

	"market/internal/coupon"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/money"
)

// Quote is the price of a checkout: what the order takes and gives. Checkout
// charges it and the preview shows it; both get it from price, so the page
// can never promise one amount and the order charge another.
type Quote struct {
	Subtotal     int64
	Discount     int64
	PointsUsed   int64
	Charged      int64
	PointsEarned int64
	BalanceAfter int64
}

// couponTerms is a chosen coupon as pricing needs it.
type couponTerms struct {
	ID        int64
	UserID    int64
	Status    string
	ExpiresAt time.Time
	Discount  coupon.Discount
}

// Held is what the shopper holds before paying.
type Held struct {
	Balance, Points int64
}

// price is the one rule for what a checkout costs: the cart's subtotal, the
// coupon (the shopper's, unused, unexpired, minimum met), points (no more
// than held, no more than is left to pay), the amount charged against the
// balance, and 1% of it back as points. It reads nothing and locks nothing.
//
// When only the balance falls short, the quote is complete (BalanceAfter is
// negative) and the error is CodeInsufficientBalance, so a preview can show
// how much is missing.
func price(cart Cart, held Held, userID int64, c *couponTerms, points int64, now time.Time) (Quote, error) {
	if len(cart.Lines) == 0 {
		return Quote{}, errCartEmpty
	}
	// A refused coupon or points still leave the cart's subtotal to show.
	q, refused := Quote{Subtotal: cart.Subtotal}, Quote{Subtotal: cart.Subtotal}
	if c != nil {
		switch {
		case c.UserID != userID:
			return refused, couponInvalid("We could not find that coupon among yours.")
		case c.Status != "issued":
			return refused, couponInvalid("This coupon has already been used.")
		case !c.ExpiresAt.After(now):
			return refused, couponInvalid("This coupon has expired.")
		case !c.Discount.Applies(q.Subtotal):
			return refused, couponInvalid("%s", couponNeeds(c.Discount.MinOrderAmount))
		}
		q.Discount = c.Discount.Amount(q.Subtotal)
	}
	switch {
	case points < 0:
		return refused, pointsInvalid("Points cannot be negative.")
	case points > held.Points:
		return refused, pointsInvalid("You have %s points; you cannot spend more.", money.Count(held.Points))
	case points > q.Subtotal-q.Discount:
		return refused, pointsInvalid("You can spend at most %s points on this order.", money.Count(q.Subtotal-q.Discount))
	}
	q.PointsUsed = points
	q.Charged = q.Subtotal - q.Discount - points
	q.PointsEarned = q.Charged / 100 // 1% of what was charged, rounded down
	q.BalanceAfter = held.Balance - q.Charged
	if q.BalanceAfter < 0 {
		return q, errs.New(CodeInsufficientBalance, "Your balance of %s is not enough for %s. Top up on your account page.", money.Won(held.Balance), money.Won(q.Charged))
	}
	return q, nil
}

// couponNeeds is the reason a coupon does not apply below its minimum order.
func couponNeeds(minOrder int64) string {
	return "This coupon needs an order of " + money.Won(minOrder) + " or more."
}

var (
	errCartEmpty = errs.New(CodeCartEmpty, "Your cart is empty. Add something first.")
	// A checkout whose page showed lines (a second tab, after the first
	// placed the order) finds the cart emptied.
	errCartEmptied = errs.New(CodeCartEmpty, "Nothing was ordered: your cart is empty now. An order placed from another window is in Your orders.")
)

// PreviewInput is the choice a preview prices: a coupon (0: none) and points.
type PreviewInput struct {
	UserID   int64
	CouponID int64
	Points   int64
}

// Preview prices the shopper's cart as checkout would right now, with the
// same rule (price) and the same refusals, reading without locks: it places
// nothing, and checkout decides again under its locks.
func (s *Service) Preview(ctx context.Context, in PreviewInput) (Quote, error) {
	f := errs.Fields{}
	f.Check(in.Points >= 0, "points", "Points cannot be negative.")
	f.Check(in.CouponID >= 0, "coupon_id", "Choose one of your coupons.")
	if err := f.Err(); err != nil {
		return Quote{}, err
	}
	// Like checkout: a coupon claimed a moment ago may be only in Redis.
	if in.CouponID != 0 && s.opt.Coupons != nil {
		if err := s.opt.Coupons.SyncUser(ctx, in.UserID); err != nil {
			return Quote{}, err
		}
	}
	w, err := s.q.Wallet(ctx, in.UserID)
	if isNoRows(err) {
		return Quote{}, errs.New(errs.NotFound, "We could not find your account.")
	}
	if err != nil {
		return Quote{}, err
	}
	cart, err := s.Cart(ctx, in.UserID)
	if err != nil {
		return Quote{}, err
	}
	var terms *couponTerms
	if in.CouponID != 0 {
		c, err := s.q.CouponTerms(ctx, in.CouponID)
		if isNoRows(err) {
			return Quote{}, couponInvalid("We could not find that coupon among yours.")
		}
		if err != nil {
			return Quote{}, err
		}
		terms = &couponTerms{ID: c.ID, UserID: c.UserID, Status: c.Status, ExpiresAt: c.ExpiresAt,
			Discount: coupon.Discount{Type: c.DiscountType, Value: c.DiscountValue, MaxDiscount: c.MaxDiscount, MinOrderAmount: c.MinOrderAmount}}
	}
	return price(cart, Held{Balance: w.Balance, Points: w.Points}, in.UserID, terms, in.Points, time.Now())
}

// lockCoupon locks the chosen coupon for the checkout's transaction; nil
// when none was chosen.
func lockCoupon(ctx context.Context, q *db.Queries, couponID int64) (*couponTerms, error) {
	if couponID == 0 {
		return nil, nil
	}
	c, err := q.CouponForCheckout(ctx, couponID)
	if isNoRows(err) {
		return nil, couponInvalid("We could not find that coupon among yours.")
	}
	if err != nil {
		return nil, err
	}
	return &couponTerms{ID: c.ID, UserID: c.UserID, Status: c.Status, ExpiresAt: c.ExpiresAt,
		Discount: coupon.Discount{Type: c.DiscountType, Value: c.DiscountValue, MaxDiscount: c.MaxDiscount, MinOrderAmount: c.MinOrderAmount}}, nil
}
