package coupon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/redisdb"
)

// Claim gives the shopper one coupon of the campaign, or says why not. The
// path is one Lua script in Redis, sent in one pipeline with the claims of
// other shoppers arriving at the same moment (batch.go); PostgreSQL is
// touched only when Redis has lost the campaign's keys and they are rebuilt
// first.
func (s *Service) Claim(ctx context.Context, campaignID, userID int64) (Outcome, error) {
	start := time.Now()
	o, err := s.claim(ctx, campaignID, userID)
	switch {
	case err == nil:
		s.m.claims.WithLabelValues(string(o.Result)).Inc()
		s.m.claimSeconds.Observe(time.Since(start).Seconds())
	case errors.Is(err, redisdb.ErrNotReplicated):
		s.m.claims.WithLabelValues("unconfirmed").Inc()
	}
	return o, err
}

func (s *Service) claim(ctx context.Context, campaignID, userID int64) (Outcome, error) {
	if campaignID <= 0 || userID <= 0 {
		return Outcome{}, errNoCampaign
	}
	var (
		k   int
		o   Outcome
		err error
	)
	// A claim that finds keys missing (lost, or a stripe frozen by a rebuild
	// while it borrowed) restores the campaign and claims again, twice at
	// most.
	for restores := 0; ; restores++ {
		var stripe int
		k, stripe, o, err = s.claimOnStripe(ctx, campaignID, userID)
		if err == nil && o.Result == SoldOut && k > 1 {
			o, err = s.claimBorrowing(ctx, campaignID, k, stripe, userID)
		}
		if err != nil || o.Result != missing {
			break
		}
		if restores == maxRestores {
			return Outcome{}, unavailable(errors.New("campaign keys missing again right after a rebuild"))
		}
		// restore wraps its own Redis failures; a PostgreSQL one goes on as
		// it is, to be answered (and logged) as what it is.
		c, err := s.restore(ctx, campaignID)
		if err != nil {
			return Outcome{}, err
		}
		if c.State == StateDraft {
			return Outcome{Result: NotActive, Remaining: c.TotalQuantity}, nil
		}
	}
	if err != nil {
		return Outcome{}, unavailable(err)
	}
	if k > 1 {
		// The script answers its stripe's stock; the shopper is told the
		// campaign's, summed as the live counts sum it (the stripe's when
		// that read fails: the claim itself stands).
		if n, err := s.remaining(ctx, []int64{campaignID}); err == nil {
			if sum, ok := n[campaignID]; ok {
				o.Remaining = sum
			}
		}
	}
	return o, nil
}

// maxRestores bounds the restores of one claim.
const maxRestores = 2

// claimOnStripe claims on the shopper's stripe, answering the stripes and
// the stripe it used. The number of stripes is learnt from Redis, not from
// PostgreSQL: a claim on stripe 0 made for another number is answered
// "stripes" with the campaign's (claim.lua), remembered, and made again.
func (s *Service) claimOnStripe(ctx context.Context, campaignID, userID int64) (int, int, Outcome, error) {
	k := 1
	if v, ok := s.stripeCounts.Load(campaignID); ok {
		k = v.(int)
	}
	for {
		stripe := stripeOf(userID, k)
		o, err := s.claimBatched(ctx, campaignID, k, stripe, userID)
		if err != nil || o.Result != wrongStripes {
			return k, stripe, o, err
		}
		if o.Remaining < 1 || o.Remaining > MaxStripes || int(o.Remaining) == k {
			return k, stripe, o, fmt.Errorf("campaign %d: Redis holds %d stripes", campaignID, o.Remaining)
		}
		k = int(o.Remaining)
		s.stripeCounts.Store(campaignID, k)
	}
}

// claimBorrowing claims on a striped campaign's stripe that ran out: it
// borrows from the other stripes and claims again, until a claim lands or
// every stripe is empty (stripes.go).
func (s *Service) claimBorrowing(ctx context.Context, campaignID int64, k, stripe int, userID int64) (Outcome, error) {
	for range claimRounds {
		ok, err := s.borrowOnce(ctx, campaignID, k, stripe)
		if errors.Is(err, errStripeCold) {
			return Outcome{Result: missing}, nil
		}
		if err != nil || !ok {
			return Outcome{Result: SoldOut}, err
		}
		o, err := s.claimBatched(ctx, campaignID, k, stripe, userID)
		if err != nil || o.Result != SoldOut {
			return o, err
		}
	}
	return Outcome{}, errBusy // stock keeps moving away: try again
}

// BareClaim is claim.lua and a campaign's keys in the script's order: what a
// claim sends to Redis, for a caller that runs the script without the service
// (the claims bench's raw ceiling measures the same script on the same keys).
// Its arguments are the shopper's id and 1 (the stripes).
func BareClaim(campaignID int64) (*redis.Script, []string) {
	return claimScript, keysOf(campaignID).forClaim()
}

// BareStripeClaim is BareClaim for a shopper of a campaign of k stripes: the
// keys of the shopper's stripe; the arguments are the shopper's id and k.
func BareStripeClaim(campaignID int64, k int, userID int64) (*redis.Script, []string) {
	return claimScript, stripeKeys(campaignID, stripeOf(userID, k), k).forClaim()
}

func isBusyGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP")
}

// claim is one parsed stream entry.
type claimEntry struct {
	userID int64
	at     time.Time
}

func parseEntry(m redis.XMessage) (claimEntry, error) {
	u, _ := m.Values["user"].(string)
	a, _ := m.Values["at"].(string)
	uid, err1 := strconv.ParseInt(u, 10, 64)
	ms, err2 := strconv.ParseInt(a, 10, 64)
	if err1 != nil || err2 != nil || uid <= 0 || ms <= 0 {
		return claimEntry{}, fmt.Errorf("malformed claim entry %s: %v", m.ID, m.Values)
	}
	return claimEntry{userID: uid, at: time.UnixMilli(ms)}, nil
}

// Live is a campaign with its live counters (the admin campaign JSON of docs/HTTP.md).
type Live struct {
	Campaign
	Claimed    int64
	Remaining  int64
	Pending    int64
	Warm       bool   // Redis holds the campaign's keys
	RedisState string // what Redis holds, to compare with State ("" when not warm)
	RedisTotal int64  // and with TotalQuantity
}

// Live reads one campaign and its Redis counters.
func (s *Service) Live(ctx context.Context, id int64) (Live, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Live{}, err
	}
	return s.withStats(ctx, c)
}

func (s *Service) withStats(ctx context.Context, c Campaign) (Live, error) {
	l := Live{Campaign: c, Remaining: c.TotalQuantity - c.PersistedCount, Claimed: c.PersistedCount}
	if c.State == StateDraft {
		return l, nil
	}
	h, pending, err := liveStats(ctx, s.rdb, c.ID, stripeCount(c))
	if err != nil {
		return l, unavailable(err)
	}
	if h.Warm {
		l.Claimed, l.Remaining, l.Pending, l.Warm = h.Claimed, h.Remaining, pending, true
		l.RedisState, l.RedisTotal = h.State, h.Total
	}
	return l, nil
}

// Admin is what the admin campaign page shows besides the campaign.
type Admin struct {
	Live
	DeadLetters []db.CouponDeadLetter
	Events      []db.CampaignEvent
}

// AdminView reads a campaign with its counters, dead letters and events.
func (s *Service) AdminView(ctx context.Context, id int64) (Admin, error) {
	l, err := s.Live(ctx, id)
	if err != nil && !errs.Is(err, errs.Unavailable) {
		return Admin{}, err
	}
	a := Admin{Live: l}
	if a.DeadLetters, err = s.q.ListDeadLetters(ctx, id); err != nil {
		return Admin{}, err
	}
	if a.Events, err = s.q.ListCampaignEvents(ctx, id); err != nil {
		return Admin{}, err
	}
	return a, nil
}
