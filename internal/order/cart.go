package order

import (
	"context"
	"math"
	"time"

	"market/internal/coupon"
	"market/internal/db"
	"market/internal/errs"
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

// SetItem sets the quantity (1–99) of a product in the shopper's cart. A new
// product is refused when the cart already has MaxCartLines lines; changing a
// line already in the cart is still fine.
func (s *Service) SetItem(ctx context.Context, userID, productID, quantity int64) (Cart, error) {
	f := errs.Fields{}
	f.Check(productID > 0, "product_id", "Choose a product.")
	f.Check(quantity >= 1 && quantity <= MaxQuantity, "quantity", "Choose a quantity from 1 to 99.")
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
		n, err := q.CartLineCount(ctx, db.CartLineCountParams{UserID: userID, ProductID: productID})
		if err != nil {
			return err
		}
		if n.Lines >= MaxCartLines && !n.HasLine {
			return errCartFull
		}
		_, err = q.SetCartItem(ctx, db.SetCartItemParams{UserID: userID, ProductID: productID, Quantity: int32(quantity)})
		if isNoRows(err) {
			return errUnknownProduct
		}
		return err
	})
	if err != nil {
		return Cart{}, err
	}
	return s.Cart(ctx, userID)
}

// RemoveItem takes a product out of the cart (a product not in it is fine).
func (s *Service) RemoveItem(ctx context.Context, userID, productID int64) (Cart, error) {
	if productID <= 0 {
		return Cart{}, errUnknownProduct
	}
	if _, err := s.q.DeleteCartItem(ctx, db.DeleteCartItemParams{UserID: userID, ProductID: productID}); err != nil {
		return Cart{}, err
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

// CouponOffer is a usable coupon with the discount it would give this cart.
type CouponOffer struct {
	ID         int64
	CampaignID int64
	Name       string
	Discount   int64
	ExpiresAt  time.Time
}

// CheckoutView is everything the cart page's checkout form needs.
type CheckoutView struct {
	Cart    Cart
	Coupons []CouponOffer // only those that apply to this cart
	Balance int64
	Points  int64
}

// Checkout returns the cart with the coupons that apply to it. Coupons claimed
// a moment ago are synced from Redis first (outside any transaction).
func (s *Service) CheckoutView(ctx context.Context, userID int64) (CheckoutView, error) {
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
	rows, err := s.q.UsableCoupons(ctx, userID)
	if err != nil {
		return CheckoutView{}, err
	}
	v := CheckoutView{Cart: c, Balance: w.Balance, Points: w.Points, Coupons: []CouponOffer{}}
	if len(c.Lines) == 0 {
		return v, nil
	}
	for _, r := range rows {
		d := coupon.Discount{Type: r.DiscountType, Value: r.DiscountValue, MaxDiscount: r.MaxDiscount, MinOrderAmount: r.MinOrderAmount}
		if !d.Applies(c.Subtotal) {
			continue
		}
		v.Coupons = append(v.Coupons, CouponOffer{ID: r.ID, CampaignID: r.CampaignID, Name: r.Name, Discount: d.Amount(c.Subtotal), ExpiresAt: r.ExpiresAt})
	}
	return v, nil
}
