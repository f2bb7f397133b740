// Package coupon is the flash-sale coupons domain: campaigns and their state
// machine in PostgreSQL, claims in Redis (one Lua script, no database on the
// path), and the write-back flusher that persists claims to PostgreSQL.
package coupon

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/audit"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/redisdb"
	"market/internal/text"
)

// Campaign states: draft → active ⇄ paused → ended.
const (
	StateDraft  = "draft"
	StateActive = "active"
	StatePaused = "paused"
	StateEnded  = "ended"
)

// Discount kinds.
const (
	DiscountFixed   = "fixed"
	DiscountPercent = "percent"
)

// Bounds of a campaign's numbers.
const (
	MaxMoney        = 100_000_000
	MaxQuantity     = 10_000_000
	MaxValidDays    = 365
	DefaultValidDay = 7
)

// A campaign's total quantity, on creation and on every resize.
const quantityRule = "The quantity is 1 to 10,000,000 coupons."

func validQuantity(n int64) bool { return n >= 1 && n <= MaxQuantity }

// Campaign is a coupon campaign as stored in PostgreSQL.
type Campaign = db.Campaign

// Input is the campaign form (field names in docs/HTTP.md), already parsed to types.
type Input struct {
	Name           string
	DiscountType   string
	DiscountValue  int64
	MaxDiscount    *int64
	MinOrderAmount int64
	TotalQuantity  int64
	StartsAt       time.Time
	EndsAt         time.Time
	ValidDays      int64
	// Stripes the stock is split over in Redis (stripes.go); 0 means 1.
	Stripes int64
}

// NameText is the campaign name's text rule (package text): shoppers see it on
// the coupons page, so it may not hide or reverse itself.
var NameText = text.Options{Label: "The name", Max: 100, Name: true}

// Validate checks the rules of a campaign; fields are the form's names.
// A claim window's times are from the year 2000 to 9000: an earlier one is a
// typing slip (0001-01-01 is what an emptied date field can send), and a
// later one would leave no room for its coupons' validity in every zone
// (JSON times end at the year 9999).
const (
	minYear, maxYear = 2000, 9000
	yearRule         = "Enter a date in the years 2000 to 9000."
)

func (in *Input) Validate() error {
	in.Name = strings.TrimSpace(in.Name)
	f := errs.Fields{}
	f.Check(in.Name != "", "name", "Give the campaign a name.")
	if err := text.Check(in.Name, NameText); err != nil {
		f.Add("name", err.Error())
	}
	switch in.DiscountType {
	case DiscountFixed:
		f.Check(in.DiscountValue >= 1 && in.DiscountValue <= MaxMoney, "discount_value", "A fixed discount is 1 to 100,000,000 won.")
		in.MaxDiscount = nil
	case DiscountPercent:
		f.Check(in.DiscountValue >= 1 && in.DiscountValue <= 100, "discount_value", "A percent discount is 1 to 100 percent.")
		f.Check(in.MaxDiscount != nil, "max_discount", "A percent discount needs a cap in won.")
		if in.MaxDiscount != nil {
			f.Check(*in.MaxDiscount >= 1 && *in.MaxDiscount <= MaxMoney, "max_discount", "The cap is 1 to 100,000,000 won.")
		}
	default:
		f.Add("discount_type", "Choose a fixed or a percent discount.")
	}
	f.Check(in.MinOrderAmount >= 0 && in.MinOrderAmount <= 10*MaxMoney, "min_order_amount", "The minimum order is 0 to 1,000,000,000 won.")
	f.Check(validQuantity(in.TotalQuantity), "total_quantity", quantityRule)
	f.Check(!in.StartsAt.IsZero(), "starts_at", "Enter when claiming starts.")
	f.Check(!in.EndsAt.IsZero(), "ends_at", "Enter when claiming ends.")
	f.Check(in.StartsAt.IsZero() || inYears(in.StartsAt), "starts_at", yearRule)
	f.Check(in.EndsAt.IsZero() || inYears(in.EndsAt), "ends_at", yearRule)
	if !in.StartsAt.IsZero() && !in.EndsAt.IsZero() {
		f.Check(in.EndsAt.After(in.StartsAt), "ends_at", "The claim window must end after it starts.")
	}
	if in.ValidDays == 0 {
		in.ValidDays = DefaultValidDay
	}
	f.Check(in.ValidDays >= 1 && in.ValidDays <= MaxValidDays, "valid_days", "A coupon stays valid 1 to 365 days.")
	if in.Stripes == 0 {
		in.Stripes = 1
	}
	f.Check(in.Stripes >= 1 && in.Stripes <= MaxStripes, "stripes", stripesRule)
	return f.Err()
}

func inYears(t time.Time) bool {
	return t.Year() >= minYear && t.UTC().Year() <= maxYear
}

// ParseTime reads a form time: RFC 3339, or an HTML datetime-local value
// (2025-05-01T10:00, seconds optional) in the server's zone.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		return time.Time{}, errors.New("too long")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !validOffset(s) {
			return time.Time{}, errors.New("not a time")
		}
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a time")
}

// validOffset: an RFC 3339 time ends in Z or an offset of hours 00–23 and
// minutes 00–59, which time.Parse does not check (it takes +24:00).
func validOffset(s string) bool {
	if strings.HasSuffix(s, "Z") {
		return true
	}
	off := s[len(s)-6:] // Parse took the layout, so the offset is there
	return off[1:3] <= "23" && off[4:6] <= "59"
}

// Options configure the service.
type Options struct {
	Flush   FlushOptions
	Sync    SyncOptions
	Log     *slog.Logger
	Metrics *Metrics // nil: not measured
	// Now is the clock of shopper-facing decisions (sale.go) and of the
	// auto-end job; nil is time.Now. Tests set it.
	Now func() time.Time
	// Live bounds the remaining-count streams (live.go).
	Live LiveOptions
	// Wait: a claim is answered "claimed" only once this many replicas of
	// its Redis primary hold it (REDIS_WAIT_REPLICAS; batch.go).
	Wait redisdb.Wait
}

// Service is the coupons domain.
type Service struct {
	pool *pgxpool.Pool
	q    *db.Queries
	rdb  redis.UniversalClient
	opts Options
	log  *slog.Logger
	m    *Metrics

	restores sync.Map      // campaign id → *flight: the restore of its lost keys in progress
	claims   *redisdb.Pipe // claim.lua calls, batched
	// stripeCounts: campaign id → its stripes, once past draft (stripes.go);
	// borrows: stripeRef → *borrowFlight, the move to that stripe in progress.
	stripeCounts sync.Map
	borrows      sync.Map
	// waitPipes: *redis.Client of a primary → its *redisdb.Pipe ending in
	// WAIT (Options.Wait).
	waitPipes sync.Map
	live      *hub // remaining counts for watchers (live.go)
}

// NewService builds the service. Start the flusher with RunFlusher.
func NewService(pool *pgxpool.Pool, rdb redis.UniversalClient, o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Flush = o.Flush.withDefaults()
	if o.Sync.Interval <= 0 {
		o.Sync.Interval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	batchSize := m.claimBatch
	s := &Service{pool: pool, q: db.New(pool), rdb: rdb, opts: o, log: o.Log, m: m,
		claims: redisdb.NewPipe(redisdb.WithoutRetries(rdb), func(n int) { batchSize.Observe(float64(n)) })}
	s.live = newHub(s, o.Live)
	return s
}

var errNoCampaign = errs.New(errs.NotFound, "We could not find that campaign.")

// Get returns one campaign.
func (s *Service) Get(ctx context.Context, id int64) (Campaign, error) {
	c, err := s.q.GetCampaign(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Campaign{}, errNoCampaign
	}
	return c, err
}

// List returns the newest campaigns first.
func (s *Service) List(ctx context.Context) ([]Campaign, error) {
	return s.q.ListCampaigns(ctx)
}

// Create stores a draft campaign.
func (s *Service) Create(ctx context.Context, in Input) (Campaign, error) {
	if err := in.Validate(); err != nil {
		return Campaign{}, err
	}
	var c Campaign
	err := db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		var err error
		c, err = q.CreateCampaign(ctx, db.CreateCampaignParams{
			Name: in.Name, DiscountType: in.DiscountType, DiscountValue: in.DiscountValue, MaxDiscount: in.MaxDiscount,
			MinOrderAmount: in.MinOrderAmount, TotalQuantity: in.TotalQuantity, StartsAt: in.StartsAt, EndsAt: in.EndsAt,
			ValidDays: int32(in.ValidDays), Stripes: int32(in.Stripes),
		})
		if err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Campaign, "create", audit.Subject("campaign", c.ID), nil, audited(c))
	})
	return c, err
}

// audited is what the audit trail keeps of a campaign: its form's fields,
// named as in forms and JSON (docs/HTTP.md), and its state.
func audited(c Campaign) map[string]any {
	return map[string]any{"name": c.Name, "discount_type": c.DiscountType, "discount_value": c.DiscountValue,
		"max_discount": c.MaxDiscount, "min_order_amount": c.MinOrderAmount, "total_quantity": c.TotalQuantity,
		"starts_at": c.StartsAt, "ends_at": c.EndsAt, "valid_days": c.ValidDays, "stripes": c.Stripes, "state": c.State}
}

// Update edits a campaign. A draft may change everything; a live (active or
// paused) campaign only its total quantity, never below what is claimed.
func (s *Service) Update(ctx context.Context, id int64, in Input) (Campaign, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Campaign{}, err
	}
	switch c.State {
	case StateDraft:
		if err := in.Validate(); err != nil {
			return Campaign{}, err
		}
		before := c
		err := db.WithTx(ctx, s.pool, func(q *db.Queries) error {
			var err error
			c, err = q.UpdateDraftCampaign(ctx, db.UpdateDraftCampaignParams{
				ID: id, Name: in.Name, DiscountType: in.DiscountType, DiscountValue: in.DiscountValue, MaxDiscount: in.MaxDiscount,
				MinOrderAmount: in.MinOrderAmount, TotalQuantity: in.TotalQuantity, StartsAt: in.StartsAt, EndsAt: in.EndsAt,
				ValidDays: int32(in.ValidDays), Stripes: int32(in.Stripes),
			})
			if err != nil {
				return err
			}
			return audit.Record(ctx, q, audit.Campaign, "edit", audit.Subject("campaign", id), audited(before), audited(c))
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return Campaign{}, errs.New(errs.Conflict, "This campaign is no longer a draft; reload the page.")
		}
		return c, err
	case StateActive, StatePaused:
		return s.resize(ctx, id, in.TotalQuantity)
	default:
		return Campaign{}, errs.New(errs.Conflict, "This campaign has ended and cannot be edited.")
	}
}

// resize changes a live campaign's quantity (sync.go: a smaller total goes
// to Redis first, where it is checked against claims atomically; a larger
// one after the commit).
func (s *Service) resize(ctx context.Context, id, total int64) (Campaign, error) {
	if !validQuantity(total) {
		return Campaign{}, &errs.Error{Code: errs.Invalid, Message: quantityRule, Fields: map[string]string{"total_quantity": quantityRule}}
	}
	var c Campaign
	err := s.locked(ctx, id, adminLockWait, func(q *db.Queries, cur Campaign) error {
		if cur.State != StateActive && cur.State != StatePaused {
			return errs.New(errs.Conflict, "This campaign is %s now; reload the page.", cur.State)
		}
		if total < cur.TotalQuantity {
			if err := s.lowerInRedis(ctx, q, cur, total); err != nil {
				return err
			}
		}
		var err error
		c, err = q.SetCampaignQuantity(ctx, db.SetCampaignQuantityParams{ID: id, TotalQuantity: total})
		if err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Campaign, "resize", audit.Subject("campaign", id),
			map[string]any{"total_quantity": cur.TotalQuantity}, map[string]any{"total_quantity": total})
	})
	if err != nil {
		return Campaign{}, err
	}
	return s.commitThenSync(ctx, c, "quantity changed"), nil
}

// lowerInRedis sets a smaller total in Redis, refused below what shoppers
// have claimed. Under the lock, before the commit.
func (s *Service) lowerInRedis(ctx context.Context, q *db.Queries, cur Campaign, total int64) error {
	if stripeCount(cur) > 1 {
		err := s.respreadLocked(ctx, q, cur, total)
		if n, ok := asBelowClaimed(err); ok {
			return belowClaimedError(n)
		}
		return err
	}
	next := cur
	next.TotalQuantity = total
	status, n, err := s.apply(ctx, next, modeResize, next.PersistedCount)
	if err == nil && status == appliedMissing {
		if err = s.rebuildLocked(ctx, q, cur, "before a quantity change"); err == nil {
			status, n, err = s.apply(ctx, next, modeResize, next.PersistedCount)
		}
	}
	switch {
	case err != nil:
		return unavailable(err)
	case status == appliedBelowClaimed:
		return belowClaimedError(n)
	case status == appliedMissing:
		return unavailable(errors.New("campaign keys vanished again right after a rebuild"))
	}
	return nil
}

func belowClaimedError(claimed int64) error {
	msg := "Shoppers have already claimed " + strconv.FormatInt(claimed, 10) + " coupons; the quantity cannot go below that."
	return &errs.Error{Code: errs.Conflict, Message: msg, Fields: map[string]string{"total_quantity": msg}}
}

// Transitions of the state machine, by action.
var transitions = map[string]struct {
	from []string
	to   string
}{
	"activate": {[]string{StateDraft, StatePaused}, StateActive},
	"pause":    {[]string{StateActive}, StatePaused},
	"end":      {[]string{StateActive, StatePaused}, StateEnded},
}

// Transition applies an admin action (activate, pause, end; activate also
// resumes a paused campaign) and brings Redis in line with it. A pause or an
// end reaches Redis before it is committed, so that no claim gets through a
// stop the admin was told about; when Redis cannot be told, nothing changes
// and the admin is asked to try again. An activation is committed first and
// copied after (sync.go).
func (s *Service) Transition(ctx context.Context, id int64, action string) (Campaign, error) {
	return s.transition(ctx, id, action, action, true)
}

// transition is Transition with the reason recorded with the Redis copy;
// stopFirst: a pause or an end reaches Redis before the commit (the end of
// a claim window needs not: claim.lua reads the window on Redis's clock).
func (s *Service) transition(ctx context.Context, id int64, action, why string, stopFirst bool) (Campaign, error) {
	tr, ok := transitions[action]
	if !ok {
		return Campaign{}, errs.New(errs.NotFound, "There is no such campaign action.")
	}
	var c Campaign
	synced := false
	if stopFirst && tr.to != StateActive {
		// The Redis work (a rebuild, when the keys are gone) must not stop
		// half done when the admin's request ends.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
		defer cancel()
	}
	err := s.locked(ctx, id, adminLockWait, func(q *db.Queries, cur Campaign) error {
		allowed := false
		for _, f := range tr.from {
			allowed = allowed || cur.State == f
		}
		if !allowed {
			return errs.New(errs.Conflict, "This campaign is %s; it cannot be %s.", cur.State, pastTense(action))
		}
		if tr.to == StateActive && !cur.EndsAt.After(time.Now()) {
			return errs.New(errs.Conflict, "This campaign's claim window is already over; edit or end it instead.")
		}
		var err error
		c, err = q.SetCampaignState(ctx, db.SetCampaignStateParams{ID: id, State: tr.to})
		if err != nil {
			return err
		}
		if stopFirst && tr.to != StateActive {
			// If the commit then fails, Redis has stopped a campaign that
			// PostgreSQL keeps running until the next sync: the safe side.
			if err := s.syncLocked(ctx, q, &c, why); errs.Is(err, errs.Unavailable) {
				return &wrapped{errs.New(errs.Unavailable, "The campaign was not %s: the coupon store cannot be reached, so nothing changed. Please try again in a moment.", pastTense(action)), err}
			} else if err != nil {
				return err
			}
			synced = true
		}
		return audit.Record(ctx, q, audit.Campaign, action, audit.Subject("campaign", id),
			map[string]any{"state": cur.State}, map[string]any{"state": tr.to, "why": why})
	})
	if err != nil {
		return Campaign{}, err
	}
	if synced {
		return c, nil
	}
	// Committed first, copied to Redis after (sync.go).
	return s.commitThenSync(ctx, c, why), nil
}

func pastTense(action string) string {
	switch action {
	case "activate":
		return "activated"
	case "pause":
		return "paused"
	default:
		return "ended"
	}
}

// unavailable turns a Redis failure into a 503 a shopper can read; the cause is logged by the caller's error chain.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &wrapped{errs.New(errs.Unavailable, "Coupons are busy right now. Please try again in a moment."), err}
}

// wrapped is an expected error that keeps its cause for logs and errors.Is.
type wrapped struct {
	shown *errs.Error
	cause error
}

func (w *wrapped) Error() string   { return w.shown.Error() + ": " + w.cause.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.shown, w.cause} }
