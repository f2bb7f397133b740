package order

import (
	"context"
	"math"
	"strconv"
	"time"

	"market/internal/db"
	"market/internal/errs"
)

// Entry is one ledger row as the account page shows it.
type Entry struct {
	Delta   int64
	Reason  string
	OrderID *int64
	At      time.Time
}

// Wallet is a shopper's balance and points with their recent history.
type Wallet struct {
	Balance        int64
	Points         int64
	BalanceHistory []Entry
	PointsHistory  []Entry
}

// historyLimit is how many recent ledger rows the account page shows.
const historyLimit = 20

// Wallet reads the balance, points and their latest ledger rows.
func (s *Service) Wallet(ctx context.Context, userID int64) (Wallet, error) {
	w, err := s.q.Wallet(ctx, userID)
	if isNoRows(err) {
		return Wallet{}, errs.New(errs.NotFound, "We could not find your account.")
	}
	if err != nil {
		return Wallet{}, err
	}
	bal, err := s.q.BalanceHistory(ctx, db.BalanceHistoryParams{UserID: userID, Limit: historyLimit})
	if err != nil {
		return Wallet{}, err
	}
	pts, err := s.q.PointsHistory(ctx, db.PointsHistoryParams{UserID: userID, Limit: historyLimit})
	if err != nil {
		return Wallet{}, err
	}
	out := Wallet{Balance: w.Balance, Points: w.Points, BalanceHistory: make([]Entry, len(bal)), PointsHistory: make([]Entry, len(pts))}
	for i, e := range bal {
		out.BalanceHistory[i] = Entry{Delta: e.Delta, Reason: e.Reason, OrderID: e.OrderID, At: e.CreatedAt}
	}
	for i, e := range pts {
		out.PointsHistory[i] = Entry{Delta: e.Delta, Reason: e.Reason, OrderID: e.OrderID, At: e.CreatedAt}
	}
	return out, nil
}

// TopUp adds 1–1,000,000 won to the balance (a demo payment) with a ledger row.
func (s *Service) TopUp(ctx context.Context, userID, amount int64) (Wallet, error) {
	if amount < 1 || amount > MaxTopUp {
		return Wallet{}, &errs.Error{Code: errs.Invalid, Message: "Top up from ₩1 to ₩1,000,000 at a time.",
			Fields: map[string]string{"amount": "Top up from ₩1 to ₩1,000,000 at a time."}}
	}
	err := s.inTx(ctx, func(q *db.Queries) error {
		w, err := q.LockShopper(ctx, userID)
		if isNoRows(err) {
			return errs.New(errs.NotFound, "We could not find your account.")
		}
		if err != nil {
			return err
		}
		if w.Balance > math.MaxInt64-amount {
			return errs.New(errs.Conflict, "Your balance cannot hold any more.")
		}
		return moveWallet(ctx, q, userID, nil, amount, nil, "topup")
	})
	if err != nil {
		return Wallet{}, err
	}
	return s.Wallet(ctx, userID)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
