package order

import (
	"context"
	"math"

	"market/internal/audit"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/money"
)

// Kinds of wallet adjustment.
const (
	AdjustBalance = "balance"
	AdjustPoints  = "points"
)

// MaxAdjustment bounds one adjustment either way (won or points).
const MaxAdjustment = 100_000_000

// Adjustment is an admin's correction of a shopper's balance or points,
// with the reason the ledger keeps.
type Adjustment struct {
	UserID int64
	Kind   string // AdjustBalance or AdjustPoints
	Delta  int64  // signed, never 0
	Note   string // why, 1–200 characters (checked by the text rule before)
}

// Validate checks the adjustment's fields.
func (a Adjustment) Validate() error {
	f := errs.Fields{}
	f.Check(a.Kind == AdjustBalance || a.Kind == AdjustPoints, "kind", "Choose what to adjust: balance or points.")
	f.Check(a.Delta != 0 && a.Delta >= -MaxAdjustment && a.Delta <= MaxAdjustment, "delta",
		"Enter a change other than 0, at most 100,000,000 either way (negative takes away).")
	f.Check(a.Note != "", "reason", "Say why, for the ledger.")
	return f.Err()
}

// Adjust applies an adjustment with its ledger row, under the shopper's
// lock; it never takes the balance or points below zero.
func (s *Service) Adjust(ctx context.Context, a Adjustment) (Wallet, error) {
	if err := a.Validate(); err != nil {
		return Wallet{}, err
	}
	err := s.inTx(ctx, func(q *db.Queries) error {
		w, err := q.LockShopper(ctx, a.UserID)
		if isNoRows(err) {
			return errs.New(errs.NotFound, "There is no shopper with that id.")
		}
		if err != nil {
			return err
		}
		held, name := w.Balance, money.Won
		if a.Kind == AdjustPoints {
			held, name = w.Points, money.Count
		}
		switch {
		case held+a.Delta < 0:
			return errs.New(errs.Conflict, "The shopper has %s; taking %s would go below zero.", name(held), name(-a.Delta))
		case a.Delta > 0 && held > math.MaxInt64-a.Delta:
			return errs.New(errs.Conflict, "That would be more than the account can hold.")
		}
		if err := audit.Record(ctx, q, audit.Shopper, "adjust "+a.Kind, audit.Subject("shopper", a.UserID),
			map[string]any{a.Kind: held}, map[string]any{a.Kind: held + a.Delta, "reason": a.Note}); err != nil {
			return err
		}
		if a.Kind == AdjustBalance {
			if err := q.MoveWallet(ctx, db.MoveWalletParams{ID: a.UserID, BalanceDelta: a.Delta}); err != nil {
				return err
			}
			return q.InsertBalanceAdjustment(ctx, db.InsertBalanceAdjustmentParams{UserID: a.UserID, Delta: a.Delta, Note: &a.Note})
		}
		if err := q.MoveWallet(ctx, db.MoveWalletParams{ID: a.UserID, PointsDelta: a.Delta}); err != nil {
			return err
		}
		return q.InsertPointsAdjustment(ctx, db.InsertPointsAdjustmentParams{UserID: a.UserID, Delta: a.Delta, Note: &a.Note})
	})
	if err != nil {
		return Wallet{}, err
	}
	return s.Wallet(ctx, a.UserID)
}
