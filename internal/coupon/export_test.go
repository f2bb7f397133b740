package coupon

import "context"

// StripeOf is stripeOf, for tests that aim shoppers at stripes.
func StripeOf(userID int64, k int) int { return stripeOf(userID, k) }

// HalfMove takes units from one stripe for another and stops there, as a
// mover that stopped between take and give would. It answers the units taken.
func (s *Service) HalfMove(ctx context.Context, id int64, k, from, to int, most int64) (int64, error) {
	st, err := readStripes(ctx, s.rdb, id, k)
	if err != nil {
		return 0, err
	}
	m, err := s.take(ctx, id, k, st[from].gen, from, to, most)
	return m.n, err
}

// StockKey is the stock key of stripe `stripe` of a campaign of k stripes.
func StockKey(id int64, stripe, k int) string { return stripeKeys(id, stripe, k).stock }

// SlotOf is the slot the shop computes for a stripe's keys.
func SlotOf(id int64, stripe, k int) int { return slotOf(stripeTag(id, stripe, k)) }

// SyncPass runs one pass of the background sync.
func (s *Service) SyncPass(ctx context.Context) error {
	_, err := s.syncPass(ctx, syncLockWait, "test")
	return err
}

// MoveGrace is how long a half-done move waits for the background sync.
const MoveGrace = moveGrace
