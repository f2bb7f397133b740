package coupon

import (
	"strconv"

	"market/internal/money"
)

// Discount is what a coupon takes off an order.
type Discount struct {
	Type           string
	Value          int64  // won (fixed) or percent
	MaxDiscount    *int64 // percent only: the cap in won
	MinOrderAmount int64
}

// DiscountOf reads a campaign's discount.
func DiscountOf(c Campaign) Discount {
	return Discount{Type: c.DiscountType, Value: c.DiscountValue, MaxDiscount: c.MaxDiscount, MinOrderAmount: c.MinOrderAmount}
}

// Applies reports whether the subtotal meets the minimum order amount. Below
// it the coupon takes nothing off: checkout refuses it and the cart does not
// offer it.
func (d Discount) Applies(subtotal int64) bool {
	return subtotal > 0 && subtotal >= d.MinOrderAmount
}

// Amount is the won taken off a subtotal: the fixed value, or the percent
// rounded down and capped by MaxDiscount; 0 when the coupon does not apply,
// never more than the subtotal and never negative.
func (d Discount) Amount(subtotal int64) int64 {
	if !d.Applies(subtotal) {
		return 0
	}
	var off int64
	switch d.Type {
	case DiscountFixed:
		off = d.Value
	case DiscountPercent:
		// Above 100% the subtotal caps the result anyway; clamping v first
		// keeps the product below overflow for any subtotal.
		v := min(max(d.Value, 0), 100)
		// subtotal·v/100 split as (s/100)·v + (s%100)·v/100: the same floor,
		// without forming subtotal·v.
		off = subtotal/100*v + subtotal%100*v/100
		if d.MaxDiscount != nil {
			off = min(off, *d.MaxDiscount)
		}
	}
	return max(0, min(off, subtotal))
}

// Text says the discount in words: "₩3,000 off", "10% off (up to ₩5,000)".
func (d Discount) Text() string {
	if d.Type == DiscountPercent {
		s := strconv.FormatInt(d.Value, 10) + "% off"
		if d.MaxDiscount != nil {
			s += " (up to " + money.Won(*d.MaxDiscount) + ")"
		}
		return s
	}
	return money.Won(d.Value) + " off"
}
