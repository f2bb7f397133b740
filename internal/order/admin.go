package order

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/series"
	"market/internal/text"
)

// The orders chart: 60 buckets of a minute, the last hour.
const (
	OrderStep    = time.Minute
	OrderBuckets = 60
)

// Dashboard is the orders' share of the admin dashboard.
type Dashboard struct {
	OrdersToday  int64          // placed since midnight (server time), cancelled ones included
	RevenueToday int64          // won charged on today's orders that are still placed
	PerMinute    []series.Point // orders per OrderStep, oldest first
}

// Dashboard counts today's orders and revenue and the orders of the last hour.
func (s *Service) Dashboard(ctx context.Context, now time.Time) (Dashboard, error) {
	var d Dashboard
	y, m, day := now.Date()
	today, err := s.q.OrdersSince(ctx, time.Date(y, m, day, 0, 0, 0, 0, now.Location()))
	if err != nil {
		return d, err
	}
	d.OrdersToday, d.RevenueToday = today.Orders, today.Revenue
	w := series.Last(now, OrderStep, OrderBuckets)
	rows, err := s.q.OrdersPerBucket(ctx, db.OrdersPerBucketParams{StepSeconds: int32(OrderStep / time.Second), Since: w.Since, Until: w.Until})
	if err != nil {
		return d, err
	}
	starts, counts := make([]time.Time, len(rows)), make([]int64, len(rows))
	for i, r := range rows {
		starts[i], counts[i] = r.Bucket, r.Orders
	}
	d.PerMinute = w.Fill(starts, counts)
	return d, nil
}

// Statuses of an order (docs/ORDERS.md).
const (
	StatusPlaced    = "placed"
	StatusPreparing = "preparing"
	StatusShipped   = "shipped"
	StatusDelivered = "delivered"
	StatusCancelled = "cancelled"
)

// Statuses are an order's statuses, in the order an order goes through them.
var Statuses = []string{StatusPlaced, StatusPreparing, StatusShipped, StatusDelivered, StatusCancelled}

// MaxPage bounds one page of the admin order list.
const MaxPage = 50

// Filter narrows the admin order list; zero values do not filter.
type Filter struct {
	Status   string     // placed | cancelled
	Email    string     // the shopper's exact address
	OrderID  int64      // one order, by its number
	From     *time.Time // created at or after
	Before   *time.Time // created before
	BeforeID int64      // keyset cursor: orders with a smaller id
	Limit    int        // MaxPage when zero
}

// FilterEmailText is the text rule (package text) of the list's email filter.
var FilterEmailText = text.Options{Label: "The email address", Max: 254}

// Validate checks the filter; fields are the list form's names.
func (f *Filter) Validate() error {
	v := errs.Fields{}
	f.Email = strings.TrimSpace(f.Email)
	if err := text.Check(f.Email, FilterEmailText); err != nil {
		v.Add("email", err.Error())
	}
	f.Email = strings.ToLower(f.Email)
	v.Check(f.Status == "" || slices.Contains(Statuses, f.Status), "status", "Choose placed, preparing, shipped, delivered or cancelled.")
	v.Check(len(f.Email) <= 254, "email", "An email address is at most 254 characters.")
	v.Check(f.From == nil || f.Before == nil || f.From.Before(*f.Before), "to", "The end date must not be before the start date.")
	v.Check(f.OrderID >= 0, "order", "An order number is a whole number from 1.")
	v.Check(f.BeforeID >= 0, "before", "That page cursor is not valid.")
	v.Check(f.Limit >= 0 && f.Limit <= MaxPage, "limit", "A page has at most 50 orders.")
	if f.Limit == 0 {
		f.Limit = MaxPage
	}
	return v.Err()
}

// Listed is an order in the admin list.
type Listed struct {
	Order
	Email string
}

// AdminPage is one page of the admin list; NextBefore is the cursor of the
// next page, 0 on the last.
type AdminPage struct {
	Orders     []Listed
	NextBefore int64
}

// AdminOrders lists every shopper's orders, newest first.
func (s *Service) AdminOrders(ctx context.Context, f Filter) (AdminPage, error) {
	if err := f.Validate(); err != nil {
		return AdminPage{}, err
	}
	p := db.AdminOrdersParams{CreatedFrom: f.From, CreatedBefore: f.Before, Lim: int32(f.Limit + 1)}
	if f.Status != "" {
		p.Status = &f.Status
	}
	if f.BeforeID > 0 {
		p.BeforeID = &f.BeforeID
	}
	if f.OrderID > 0 {
		p.OrderID = &f.OrderID
	}
	if f.Email != "" {
		id, err := s.q.UserIDByEmail(ctx, f.Email)
		if isNoRows(err) {
			return AdminPage{Orders: []Listed{}}, nil
		}
		if err != nil {
			return AdminPage{}, err
		}
		p.UserID = &id
	}
	var rows []db.AdminOrdersRow
	err := db.ReadPlanned(ctx, s.pool, func(q *db.Queries) (err error) {
		rows, err = q.AdminOrders(ctx, p)
		return err
	})
	if err != nil {
		return AdminPage{}, err
	}
	var page AdminPage
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		page.NextBefore = rows[len(rows)-1].Order.ID
	}
	page.Orders = make([]Listed, len(rows))
	for i, r := range rows {
		page.Orders[i] = Listed{Order: orderOf(r.Order, nil), Email: r.Email}
	}
	return page, nil
}

// LedgerRow is one ledger change an order caused: balance, points, stock or coupon.
type LedgerRow struct {
	Ledger    string // balance | points | stock | coupon
	SubjectID int64  // the shopper (balance, points), the product (stock), the coupon
	Delta     int64  // coupon: -1 used, +1 restored
	Reason    string
	At        time.Time
}

// AdminDetail is an order as an admin sees it.
type AdminDetail struct {
	Listed
	ShopperName    string
	CouponCampaign *CouponCampaign
	Ledger         []LedgerRow
}

// CouponCampaign names the campaign of the coupon an order used.
type CouponCampaign struct {
	ID   int64
	Name string
}

// AdminOrder is any shopper's order with its lines, coupon and ledger rows.
func (s *Service) AdminOrder(ctx context.Context, id int64) (AdminDetail, error) {
	if id <= 0 {
		return AdminDetail{}, errOrderNotFound
	}
	var d AdminDetail
	// One snapshot (repeatable read): the lines and ledger rows belong to the
	// order as read, even while a cancel commits in between.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := db.New(tx)
		r, err := q.AdminOrder(ctx, id)
		if isNoRows(err) {
			return errOrderNotFound
		}
		if err != nil {
			return err
		}
		o, err := loadOrder(ctx, q, id, r.UserID)
		if err != nil {
			return err
		}
		ledger, err := q.OrderLedger(ctx, id)
		if err != nil {
			return err
		}
		d.Listed = Listed{Order: o, Email: r.Email}
		d.ShopperName = r.ShopperName
		if r.CouponCampaignID != nil && r.CouponCampaignName != nil {
			d.CouponCampaign = &CouponCampaign{ID: *r.CouponCampaignID, Name: *r.CouponCampaignName}
		}
		d.Ledger = make([]LedgerRow, len(ledger))
		for i, l := range ledger {
			d.Ledger[i] = LedgerRow{Ledger: l.Ledger, SubjectID: l.SubjectID, Delta: l.Delta, Reason: l.Reason, At: l.CreatedAt}
		}
		return nil
	})
	return d, err
}
