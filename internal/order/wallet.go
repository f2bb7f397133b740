package order

import (
	"context"
	"math"
	"time"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/money"
)

// Entry is one ledger row as the account page shows it.
type Entry struct {
	Delta   int64
	Reason  string
	Note    *string // an admin's reason for an adjustment
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
		out.BalanceHistory[i] = Entry{Delta: e.Delta, Reason: e.Reason, Note: e.Note, OrderID: e.OrderID, At: e.CreatedAt}
	}
	for i, e := range pts {
		out.PointsHistory[i] = Entry{Delta: e.Delta, Reason: e.Reason, Note: e.Note, OrderID: e.OrderID, At: e.CreatedAt}
	}
	return out, nil
}

// TopUp adds 1–1,000,000 won to the balance (a demo payment) with a ledger
// row. A shopper's top-ups of the last 24 hours add up to at most the daily
// limit (Options.TopUpDailyLimit): the sum is read under the shopper's row
// lock, so top-ups sent at once are counted one after another.
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
		lastDay, err := q.TopUpsLastDay(ctx, userID)
		if err != nil {
			return err
		}
		if lastDay+amount > s.opt.TopUpDailyLimit {
			return topUpLimitError(s.opt.TopUpDailyLimit, lastDay)
		}
		return moveWallet(ctx, q, userID, nil, amount, nil, "topup")
	})
	if err != nil {
		return Wallet{}, err
	}
	return s.Wallet(ctx, userID)
}

// topUpLimitError says what the limit is and how much can still be added.
func topUpLimitError(limit, lastDay int64) error {
	msg := "You can top up at most " + money.Won(limit) + " in 24 hours, and you have reached that. Please try again later."
	if left := limit - lastDay; left > 0 {
		msg = "You can top up at most " + money.Won(limit) + " in 24 hours; " + money.Won(left) + " more is possible now."
	}
	return &errs.Error{Code: CodeTopUpLimit, Message: msg, Fields: map[string]string{"amount": msg}}
}
