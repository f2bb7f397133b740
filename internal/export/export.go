// Package export writes the CSV downloads admins and the command line take:
// orders by date and status, a campaign's claims, and the stock, balance and
// points ledgers. Each reads batches after a keyset cursor (queries/export.sql)
// and writes them as it goes, so a million rows take one batch of memory
// and many short statements.
package export

import (
	"context"
	"encoding/csv"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/order"
)

// batch is how many rows one statement reads.
const batch = 5000

// Service writes exports.
type Service struct{ q *db.Queries }

func NewService(pool *pgxpool.Pool) *Service { return &Service{q: db.New(pool)} }

// Progress is told how many rows have been written, after each batch.
type Progress func(rows int64)

// OrdersFilter picks the orders placed in [From, Before), of one Status
// ("" for all).
type OrdersFilter struct {
	From, Before time.Time
	Status       string
}

// Validate refuses a status orders cannot have (order.Statuses).
func (f OrdersFilter) Validate() error {
	if f.Status != "" && !slices.Contains(order.Statuses, f.Status) {
		msg := "The status is placed, preparing, shipped, delivered or cancelled (or empty for all)."
		return &errs.Error{Code: errs.Invalid, Message: msg, Fields: map[string]string{"status": msg}}
	}
	return nil
}

// Orders writes the orders of f, oldest first.
func (s *Service) Orders(ctx context.Context, w io.Writer, f OrdersFilter, p Progress) (int64, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	arg := db.ExportOrdersParams{AfterAt: f.From, Before: f.Before, Lim: batch}
	if f.Status != "" {
		arg.Status = &f.Status
	}
	header := []string{"id", "created_at", "user_id", "email", "status", "subtotal", "discount", "points_used", "charged", "points_earned", "coupon_id", "cancelled_at"}
	return stream(w, header, p, func() ([]db.ExportOrdersRow, error) {
		rows, err := s.q.ExportOrders(ctx, arg)
		if n := len(rows); n > 0 {
			arg.AfterAt, arg.AfterID = rows[n-1].CreatedAt, rows[n-1].ID
		}
		return rows, err
	}, func(r db.ExportOrdersRow) []string {
		return []string{num(r.ID), when(r.CreatedAt), num(r.UserID), text(r.Email), r.Status, num(r.Subtotal), num(r.Discount),
			num(r.PointsUsed), num(r.Charged), num(r.PointsEarned), optNum(r.CouponID), optWhen(r.CancelledAt)}
	})
}

// Claims writes a campaign's coupons, by shopper id.
func (s *Service) Claims(ctx context.Context, w io.Writer, campaignID int64, p Progress) (int64, error) {
	arg := db.ExportClaimsParams{CampaignID: campaignID, Lim: batch}
	header := []string{"coupon_id", "user_id", "email", "status", "claimed_at", "expires_at", "used_at", "order_id"}
	return stream(w, header, p, func() ([]db.ExportClaimsRow, error) {
		rows, err := s.q.ExportClaims(ctx, arg)
		if n := len(rows); n > 0 {
			arg.AfterUser = rows[n-1].UserID
		}
		return rows, err
	}, func(r db.ExportClaimsRow) []string {
		return []string{num(r.ID), num(r.UserID), text(r.Email), r.Status, when(r.ClaimedAt), when(r.ExpiresAt), optWhen(r.UsedAt), optNum(r.OrderID)}
	})
}

// Ledger kinds.
const (
	LedgerStock   = "stock"
	LedgerBalance = "balance"
	LedgerPoints  = "points"
)

// Ledger writes one ledger, oldest row first.
func (s *Service) Ledger(ctx context.Context, w io.Writer, kind string, p Progress) (int64, error) {
	var after int64
	switch kind {
	case LedgerStock:
		header := []string{"id", "product_id", "delta", "reason", "order_id", "actor_id", "created_at"}
		return stream(w, header, p, func() ([]db.StockLedger, error) {
			rows, err := s.q.ExportStockLedger(ctx, db.ExportStockLedgerParams{AfterID: after, Lim: batch})
			if n := len(rows); n > 0 {
				after = rows[n-1].ID
			}
			return rows, err
		}, func(r db.StockLedger) []string {
			return []string{num(r.ID), num(r.ProductID), num(r.Delta), text(r.Reason), optNum(r.OrderID), optNum(r.ActorID), when(r.CreatedAt)}
		})
	case LedgerBalance:
		return stream(w, walletHeader, p, func() ([]db.BalanceLedger, error) {
			rows, err := s.q.ExportBalanceLedger(ctx, db.ExportBalanceLedgerParams{AfterID: after, Lim: batch})
			if n := len(rows); n > 0 {
				after = rows[n-1].ID
			}
			return rows, err
		}, func(r db.BalanceLedger) []string {
			return walletRecord(r.ID, r.UserID, r.Delta, r.Reason, r.Note, r.OrderID, r.CreatedAt)
		})
	case LedgerPoints:
		return stream(w, walletHeader, p, func() ([]db.PointsLedger, error) {
			rows, err := s.q.ExportPointsLedger(ctx, db.ExportPointsLedgerParams{AfterID: after, Lim: batch})
			if n := len(rows); n > 0 {
				after = rows[n-1].ID
			}
			return rows, err
		}, func(r db.PointsLedger) []string {
			return walletRecord(r.ID, r.UserID, r.Delta, r.Reason, r.Note, r.OrderID, r.CreatedAt)
		})
	}
	return 0, errs.New(errs.Invalid, "The ledger is stock, balance or points.")
}

var walletHeader = []string{"id", "user_id", "delta", "reason", "note", "order_id", "created_at"}

func walletRecord(id, userID, delta int64, reason string, note *string, orderID *int64, at time.Time) []string {
	n := ""
	if note != nil {
		n = text(*note)
	}
	return []string{num(id), num(userID), num(delta), reason, n, optNum(orderID), when(at)}
}

// stream writes the header, then each batch fetch returns, until a batch
// comes back short.
func stream[R any](w io.Writer, header []string, p Progress, fetch func() ([]R, error), record func(R) []string) (int64, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return 0, err
	}
	var n int64
	for {
		rows, err := fetch()
		if err != nil {
			return n, err
		}
		for _, r := range rows {
			if err := cw.Write(record(r)); err != nil {
				return n, err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
		n += int64(len(rows))
		if p != nil {
			p(n)
		}
		if len(rows) < batch {
			return n, nil
		}
	}
}

func num(n int64) string { return strconv.FormatInt(n, 10) }

func optNum(n *int64) string {
	if n == nil {
		return ""
	}
	return num(*n)
}

// when is a time in the shop's zone (the process's, SHOP_TIMEZONE).
func when(t time.Time) string { return t.Local().Format(time.RFC3339) }

func optWhen(t *time.Time) string {
	if t == nil {
		return ""
	}
	return when(*t)
}

// text is a field people typed. One that begins like a formula (= + - @,
// or a tab or carriage return) is prefixed with an apostrophe, so a
// spreadsheet shows it instead of running it.
func text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
