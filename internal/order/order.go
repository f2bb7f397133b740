// Package order is the orders domain: the cart, checkout in one locked
// transaction, order history, cancel, and the wallet (top-up, balance and
// points with their ledgers).
//
// Every transaction here takes its locks in one fixed order: the shopper's
// users row, then the order row, then the coupon row, then product_stock rows
// in ascending product id. Waits are bounded by SET LOCAL lock_timeout: a
// lock held that long (a stuck session, an admin's open transaction) is
// answered "busy, try again" at once, while a serialization failure or
// deadlock is retried a bounded number of times with jitter first. At most
// the pool's size less one of these transactions run at once, each waiting
// for its turn no longer than a lock, so that a pile of them waiting on one
// locked row leaves a connection for every other request (search, pages, the
// cart's reads): a shopper in such a pile hears "busy" within two lock waits.
package order

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
	"market/internal/errs"
)

// Locking strategies for stock at checkout (ORDER_LOCKING).
const (
	Pessimistic = "pessimistic"
	Optimistic  = "optimistic"
)

// Domain error codes (the web layer maps them to statuses).
const (
	CodeOutOfStock          errs.Code = "out_of_stock"
	CodeInsufficientBalance errs.Code = "insufficient_balance"
	CodeCouponInvalid       errs.Code = "coupon_invalid"
	CodeCartEmpty           errs.Code = "cart_empty"
	CodeIdempotencyMismatch errs.Code = "idempotency_key_reused"
	CodeTopUpLimit          errs.Code = "topup_limit_reached"
	CodePriceChanged        errs.Code = "price_changed"
	CodeCartChanged         errs.Code = "cart_changed"
	CodeAddressRequired     errs.Code = "address_required"
)

var errAddressRequired = errs.New(CodeAddressRequired, "Add a delivery address before you check out.")

// Limits of the contract.
const (
	MaxQuantity  = 99
	MaxCartLines = 50
	MaxTopUp     = 1_000_000
	MaxKeyLen    = 255
	// DefaultTopUpDailyLimit is what one shopper may top up in 24 hours
	// unless Options.TopUpDailyLimit says otherwise (TOPUP_DAILY_LIMIT).
	DefaultTopUpDailyLimit = 5_000_000
)

// CouponSync persists a shopper's just-claimed coupons (claimed in Redis, not
// yet flushed) into PostgreSQL, so that a coupon claimed a moment ago can be
// used at checkout. Implemented by the coupon service; optional.
type CouponSync interface {
	SyncUser(ctx context.Context, userID int64) error
}

// Options configure the service.
type Options struct {
	Locking     string        // Pessimistic (default) or Optimistic
	LockTimeout time.Duration // SET LOCAL lock_timeout; 2 s when zero
	Attempts    int           // whole-transaction attempts on serialization failure or deadlock; 4 when zero
	// StaleRetries bounds the optimistic strategy's re-reads of a stock row
	// that another checkout changed in between; 100 when zero.
	StaleRetries int
	Coupons      CouponSync // may be nil
	// TopUpDailyLimit caps one shopper's top-ups in 24 hours (won);
	// DefaultTopUpDailyLimit when zero.
	TopUpDailyLimit int64
}

// Service is the orders domain.
type Service struct {
	pool  *pgxpool.Pool
	q     *db.Queries
	opt   Options
	slots chan struct{} // transactions running (inTx)

	retries atomic.Int64 // transaction retries and optimistic re-reads, for the benchmark
}

// NewService builds the service; unknown strategies are refused.
func NewService(pool *pgxpool.Pool, o Options) (*Service, error) {
	if o.Locking == "" {
		o.Locking = Pessimistic
	}
	if o.Locking != Pessimistic && o.Locking != Optimistic {
		return nil, fmt.Errorf("order: locking must be %s or %s, not %q", Pessimistic, Optimistic, o.Locking)
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.StaleRetries <= 0 {
		o.StaleRetries = 100
	}
	if o.TopUpDailyLimit <= 0 {
		o.TopUpDailyLimit = DefaultTopUpDailyLimit
	}
	slots := make(chan struct{}, max(1, pool.Config().MaxConns-1))
	return &Service{pool: pool, q: db.New(pool), opt: o, slots: slots}, nil
}

// Locking is the strategy in use.
func (s *Service) Locking() string { return s.opt.Locking }

// Retries counts retried transactions and optimistic re-reads since start.
func (s *Service) Retries() int64 { return s.retries.Load() }

var errBusy = errs.New(errs.Busy, "We are very busy right now, so nothing was changed. Please try again.")

// inTx runs fn in a transaction whose lock waits are bounded, once one of
// the service's slots is free (waited for no longer than a lock): a lock
// timeout is busy at once, a serialization failure or deadlock is retried a
// few times with jittered backoff. fn must be safe to run again.
func (s *Service) inTx(ctx context.Context, fn func(q *db.Queries) error) error {
	wait := time.NewTimer(s.opt.LockTimeout) // a slot is waited for no longer than a lock
	select {
	case s.slots <- struct{}{}:
		wait.Stop()
		defer func() { <-s.slots }()
	case <-wait.C:
		return errBusy
	case <-ctx.Done():
		wait.Stop()
		return ctx.Err()
	}
	var err error
	for attempt := range s.opt.Attempts {
		if attempt > 0 {
			s.retries.Add(1)
			if err := sleep(ctx, jitter(attempt, 5*time.Millisecond, 200*time.Millisecond)); err != nil {
				return err
			}
		}
		err = db.WithTxLockTimeout(ctx, s.pool, s.opt.LockTimeout, fn)
		if lockTimedOut(err) {
			return fmt.Errorf("%w (%v)", errBusy, err)
		}
		if !transient(err) {
			return err
		}
	}
	return fmt.Errorf("%w (%v)", errBusy, err)
}

// transient: the transaction lost a race it may win next time.
func transient(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", // serialization_failure
		"40P01": // deadlock_detected (cannot happen with our lock order; retried all the same)
		return true
	}
	return false
}

// lockTimedOut: a lock was held past lock_timeout, far longer than any of
// the shop's transactions holds one; another try would wait as long again.
func lockTimedOut(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// jitter is a random wait in [0, min(cap, base·2^attempt)) ("full jitter"),
// so that losers of a race do not come back in lockstep.
func jitter(attempt int, base, cap time.Duration) time.Duration {
	d := base << min(attempt, 16)
	if d > cap || d <= 0 {
		d = cap
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

var errOrderNotFound = errs.New(errs.NotFound, "We could not find that order.")
