package coupon

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/db"
)

// A campaign's stock may be split over stripes, each on its own hash slot,
// so that one campaign's claims spread over the nodes of a Redis Cluster
// (docs/COUPONS.md "Stripes"). Stripe 0 has the keys of an unstriped
// campaign, so a campaign of one stripe is exactly an unstriped one. A
// shopper claims on one stripe only (stripeOf), which keeps dedupe exact; a
// stripe that runs out borrows from the others (take.lua, give.lua).

// MaxStripes bounds a campaign's stripes.
const MaxStripes = 16

// stripesRule is the campaign form's message for the stripes field.
const stripesRule = "Stripes are 1 to 16."

// moveGrace is how long a move between stripes may stay half-done before the
// background sync finishes it (a mover that crashed between take and give).
const moveGrace = time.Second

var (
	//go:embed stripe_apply.lua
	stripeApplySrc string
	//go:embed take.lua
	takeSrc string
	//go:embed give.lua
	giveSrc string
	//go:embed stripe_read.lua
	stripeReadSrc string

	stripeApplyScript = redis.NewScript(stripeApplySrc)
	takeScript        = redis.NewScript(takeSrc)
	giveScript        = redis.NewScript(giveSrc)
	stripeReadScript  = redis.NewScript(stripeReadSrc)
)

// stripeKeys are the keys of stripe `stripe` of a campaign of k stripes,
// each under a hash tag of its own: {id} for stripe 0, {id.s.j} for stripe
// s (stripeTag).
func stripeKeys(campaignID int64, stripe, k int) keys {
	p := "coupon:{" + stripeTag(campaignID, stripe, k) + "}:"
	return keys{meta: p + "meta", stock: p + "stock", claimed: p + "claimed", claims: p + "claims", out: p + "out"}
}

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// stripeTag is a stripe's hash tag. Stripe s of k is "id.s.j" with the
// smallest j whose slot lies just past s/k of the way round the slots from
// stripe 0's: on a Cluster whose nodes hold equal runs of slots (as
// `redis-cli --cluster create` makes them), k stripes on k nodes then land on
// k different nodes, which plain "id.s" tags do only by chance. The tag of a
// stripe must never change: it is computed, not stored.
func stripeTag(campaignID int64, stripe, k int) string {
	id := strconv.FormatInt(campaignID, 10)
	if stripe == 0 || k <= 1 {
		return id
	}
	width := clusterSlots / k
	from := (slotOf(id) + stripe*width) % clusterSlots
	base := id + "." + strconv.Itoa(stripe) + "."
	for j := 0; ; j++ {
		tag := base + strconv.Itoa(j)
		// Within 1/32 of a node's run past the target: about 32k tries.
		if (slotOf(tag)-from+clusterSlots)%clusterSlots < max(width/32, 1) {
			return tag
		}
	}
}

// slotOf is Redis Cluster's slot of a hash tag: CRC16 (XMODEM) mod 16384.
func slotOf(tag string) int {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}

// forApply is stripe_apply.lua's KEYS, in its order.
func (k keys) forApply() []string { return []string{k.meta, k.stock, k.claimed, k.out} }

// stripeOf is the shopper's stripe among k. It must never change for a
// campaign's life: a shopper's claim is deduplicated on their stripe only.
func stripeOf(userID int64, k int) int {
	if k <= 1 {
		return 0
	}
	h := uint64(userID) * 0x9E3779B97F4A7C15 // Fibonacci hashing: consecutive ids spread evenly
	return int((h >> 32) % uint64(k))
}

// stripeCount is a campaign row's stripes, at least 1.
func stripeCount(c Campaign) int { return max(int(c.Stripes), 1) }

// stripesOf is how many stripes a campaign has. The number is fixed once the
// campaign leaves draft, so it is read from PostgreSQL once per process then.
func (s *Service) stripesOf(ctx context.Context, id int64) (int, error) {
	if v, ok := s.stripeCounts.Load(id); ok {
		return v.(int), nil
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if c.State != StateDraft {
		s.stripeCounts.Store(id, stripeCount(c))
	}
	return stripeCount(c), nil
}

// stripesOfAll is stripesOf for reads that show counts: a campaign that
// cannot be read counts as one stripe (its figures are then stripe 0's).
func (s *Service) stripesOfAll(ctx context.Context, ids []int64) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		k, err := s.stripesOf(ctx, id)
		out[i] = max(k, 1)
		if err != nil {
			out[i] = 1
		}
	}
	return out
}

// stripeState is what Redis holds of one stripe.
type stripeState struct {
	warm                         bool // meta, stock and generation exist
	state, gen                   string
	total, share, stock, claimed int64
	pending                      int64             // stream entries not yet persisted
	out                          map[string]string // transfer id → "to:n:unix s"
}

// move is units taken from one stripe for another.
type move struct {
	id       string
	from, to int
	n        int64
	at       time.Time
}

// readStripes reads every stripe of a campaign, each atomically
// (stripe_read.lua), all in one pipeline. The stripes are read at nearly
// the same moment but not atomically together: a move may be seen half-done.
func readStripes(ctx context.Context, rdb redis.UniversalClient, id int64, k int) ([]stripeState, error) {
	cmds := make([]*redis.Cmd, k)
	pipe := rdb.Pipeline()
	for i := range k {
		sk := stripeKeys(id, i, k)
		cmds[i] = stripeReadScript.EvalSha(ctx, pipe, []string{sk.meta, sk.stock, sk.claimed, sk.claims, sk.out})
	}
	_, _ = pipe.Exec(ctx)
	out := make([]stripeState, k)
	for i, c := range cmds {
		if isNoScript(c.Err()) {
			sk := stripeKeys(id, i, k)
			c = stripeReadScript.Eval(ctx, rdb, []string{sk.meta, sk.stock, sk.claimed, sk.claims, sk.out})
		}
		v, err := c.Slice()
		if err != nil {
			return nil, err
		}
		if out[i], err = stripeStateOf(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stripeStateOf reads stripe_read.lua's answer.
func stripeStateOf(v []any) (stripeState, error) {
	if len(v) != 8 {
		return stripeState{}, fmt.Errorf("stripe read: unexpected reply %v", v)
	}
	st := stripeState{out: map[string]string{}}
	st.state, _ = v[0].(string)
	st.total, st.share = parseInt(v[1]), parseInt(v[2])
	st.gen, _ = v[3].(string)
	stock, _ := v[4].(string)
	st.stock = parseInt(stock)
	st.claimed, _ = v[5].(int64)
	st.pending, _ = v[6].(int64)
	out, _ := v[7].([]any)
	for j := 0; j+1 < len(out); j += 2 {
		id, _ := out[j].(string)
		rec, _ := out[j+1].(string)
		st.out[id] = rec
	}
	st.warm = st.state != "" && st.gen != "" && stock != ""
	return st, nil
}

func parseInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// inTransit are the moves taken from a lender and not yet removed from its
// records: not yet given, or given a moment ago (see stripe_read.lua).
func inTransit(st []stripeState) []move {
	var out []move
	for from, x := range st {
		for id, v := range x.out {
			parts := strings.Split(v, ":")
			if len(parts) != 3 {
				continue
			}
			to, err1 := strconv.Atoi(parts[0])
			n, err2 := strconv.ParseInt(parts[1], 10, 64)
			at, err3 := strconv.ParseInt(parts[2], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil || to < 0 || to >= len(st) {
				continue
			}
			out = append(out, move{id: id, from: from, to: to, n: n, at: time.Unix(at, 0)})
		}
	}
	return out
}

// heldOfStripes sums the stripes into one campaign's figures. Agree says the
// stripes hold one state, total and generation and each its own share.
func heldOfStripes(st []stripeState) heldConfig {
	h := heldConfig{Warm: true, Agree: true, State: st[0].state, Total: st[0].total}
	for _, x := range st {
		h.Warm = h.Warm && x.warm
		h.Agree = h.Agree && x.state == h.State && x.total == h.Total && x.gen == st[0].gen && x.claimed+x.stock == x.share
		h.Claimed += x.claimed
		h.Remaining += x.stock
	}
	for _, m := range inTransit(st) {
		h.InTransit += m.n
	}
	return h
}

// finishMoves gives the borrowers every move in transit older than age (a
// mover that stopped between take and give). Giving is idempotent, so a
// mover still at work meanwhile does no harm.
func (s *Service) finishMoves(ctx context.Context, id int64, st []stripeState, age time.Duration) (int, error) {
	n := 0
	for _, m := range inTransit(st) {
		if time.Since(m.at) < age {
			continue
		}
		if err := s.give(ctx, id, len(st), st[m.from].gen, m); err != nil {
			return n, err
		}
		n++
	}
	if n > 0 {
		s.m.movesFinished.Add(float64(n))
	}
	return n, nil
}

// give lands a move on its borrower, then removes it from the lender's
// records. A stale or missing borrower leaves it recorded: a spread or a
// rebuild of the stripes, which the sync starts on what it sees, owns the
// units then.
func (s *Service) give(ctx context.Context, id int64, k int, gen string, m move) error {
	bk := stripeKeys(id, m.to, k)
	v, err := s.runMove(ctx, giveScript, []string{bk.meta, bk.stock}, gen, m.id, m.n)
	if err != nil {
		return err
	}
	o, err := pairOf(v)
	if err != nil || o.Result != "given" {
		return err
	}
	return s.rdb.HDel(ctx, stripeKeys(id, m.from, k).out, m.id).Err()
}

// take is the lender's half of a move: how many units left it for stripe to.
func (s *Service) take(ctx context.Context, id int64, k int, gen string, from, to int, most int64) (move, error) {
	m := move{id: newToken(), from: from, to: to}
	lk := stripeKeys(id, from, k)
	v, err := s.runMove(ctx, takeScript, []string{lk.meta, lk.stock, lk.out}, gen, m.id, to, most)
	if err != nil {
		return move{}, err
	}
	o, err := pairOf(v)
	if err != nil || o.Result != "taken" {
		return move{}, err
	}
	m.n = o.Remaining
	return m, nil
}

// runMove runs one half of a move. When claims wait for replicas
// (Options.Wait), so does a move: a take that a failover lost must not be
// given (its units would exist twice), nor a give forgotten by the lender
// before its replica holds it. Not acknowledged in time, the half is in its
// primary and on record, and the sync finishes the move (finishMoves).
func (s *Service) runMove(ctx context.Context, script *redis.Script, keys []string, args ...any) ([]any, error) {
	if s.opts.Wait.Replicas == 0 {
		return script.Run(ctx, s.rdb, keys, args...).Slice()
	}
	pipe, err := s.claimPipe(ctx, keys[0])
	if err != nil {
		return nil, err
	}
	var cmd *redis.Cmd
	if err := pipe.Do(ctx, func(p redis.Pipeliner) { cmd = script.Eval(context.Background(), p, keys, args...) }); err != nil {
		return nil, err
	}
	return cmd.Slice()
}

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// borrowTries bounds one borrower's rounds of reading the stripes and
// moving; borrowSettle is the pause when every stripe looks empty while
// units are in transit or a move may be half-seen.
const (
	borrowTries  = 4
	borrowSettle = 5 * time.Millisecond
	// claimRounds bounds a claim's rounds of borrowing and claiming again
	// while other shoppers take what each move brings.
	claimRounds = 64
)

// borrow brings stock to stripe to, from the other stripe holding the most:
// half of it, at most what that stripe holds. It answers whether the
// stripe has stock now; false means every stripe was seen empty twice, with
// nothing in transit, so the campaign is sold out.
func (s *Service) borrow(ctx context.Context, id int64, k, to int) (bool, error) {
	emptySeen, coldLast := 0, false
	for range borrowTries {
		st, err := readStripes(ctx, s.rdb, id, k)
		if err != nil {
			return false, err
		}
		if st[to].stock > 0 {
			return true, nil // another borrower filled it meanwhile
		}
		from, most, cold := -1, int64(0), false
		for i, x := range st {
			cold = cold || !x.warm
			if i != to && x.warm && x.stock > most {
				from, most = i, x.stock
			}
		}
		if coldLast = from < 0 && cold; coldLast {
			// A stripe is being spread again or rebuilt: its units are not
			// gone, so this is no sold out. Wait for it.
			time.Sleep(borrowSettle)
			continue
		}
		if from < 0 {
			// Every stripe looks empty: finish what is in transit, and look
			// twice, since the stripes are not read atomically together.
			if n, err := s.finishMoves(ctx, id, st, 0); err != nil || n > 0 {
				if err != nil {
					return false, err
				}
				continue
			}
			if emptySeen++; emptySeen == 2 {
				return false, nil
			}
			time.Sleep(borrowSettle)
			continue
		}
		m, err := s.take(ctx, id, k, st[from].gen, from, to, most)
		if err != nil || m.n == 0 {
			if err != nil {
				return false, err
			}
			continue // the lender emptied or was spread again meanwhile
		}
		s.m.moves.Inc()
		if err := s.give(ctx, id, k, st[from].gen, m); err != nil {
			return false, err // in transit until the sync finishes it
		}
		return true, nil
	}
	if coldLast {
		return false, errStripeCold
	}
	return true, nil // still moving: let the claim look again
}

// errStripeCold is a borrow that found no stock but on a stripe without its
// keys, for all its tries: frozen by a rebuild that takes a while, or lost.
// The claim restores the campaign (waiting for the rebuild in progress, or
// running one) and claims again.
var errStripeCold = errors.New("a stripe of the campaign has no keys")

// borrowFlight is one borrow in progress for a stripe, which other claims
// on the stripe wait for.
type borrowFlight struct {
	done chan struct{}
	ok   bool
	err  error
}

type stripeRef struct {
	campaign int64
	stripe   int
}

// borrowOnce runs one borrow per stripe at a time in this process: a crowd
// finding its stripe empty waits for one move instead of each making one.
func (s *Service) borrowOnce(ctx context.Context, id int64, k, to int) (bool, error) {
	f := &borrowFlight{done: make(chan struct{})}
	if v, running := s.borrows.LoadOrStore(stripeRef{id, to}, f); running {
		f = v.(*borrowFlight)
		select {
		case <-f.done:
			return f.ok, f.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	defer func() { s.borrows.Delete(stripeRef{id, to}); close(f.done) }()
	f.ok, f.err = s.borrow(context.WithoutCancel(ctx), id, k, to)
	return f.ok, f.err
}

// freezeStripes stops claims and moves on every stripe (their stock keys
// removed, transfers forgotten) until distribute writes the stock back. It
// answers each stripe's claims, which no longer change, and whether every
// stripe held its keys: when one did not, its claimed hash must be rebuilt
// before the claims are counted.
func (s *Service) freezeStripes(ctx context.Context, c Campaign) ([]int64, bool, error) {
	res, err := s.stripeScripts(ctx, c, func(int) []any { return []any{"freeze"} })
	claims, warm := make([]int64, len(res)), true
	for i, o := range res {
		claims[i], warm = o.Remaining, warm && o.Result == "frozen"
	}
	return claims, warm, err
}

// distribute spreads a frozen campaign's units over its stripes: every stripe
// keeps its claims (claims, counted since the freeze), and total minus all
// claims is split evenly, in a new generation (moves of the old one are
// refused). A total below the claims is not written: it answers
// appliedBelowClaimed and the claims. A stripe whose hash holds fewer claims
// than counted lost its keys meanwhile: it stays frozen (errKeysLost).
func (s *Service) distribute(ctx context.Context, c Campaign, total int64, claims []int64) (applied, int64, error) {
	k := stripeCount(c)
	var sum int64
	for _, n := range claims {
		sum += n
	}
	if total < sum {
		return appliedBelowClaimed, sum, nil
	}
	gen, left := newToken(), total-sum
	res, err := s.stripeScripts(ctx, c, func(i int) []any {
		share := claims[i] + left/int64(k)
		if int64(i) < left%int64(k) {
			share++
		}
		return []any{"create", gen, share, claims[i]}
	})
	for i, o := range res {
		switch {
		case err != nil:
		case o.Result == missing:
			err = fmt.Errorf("stripe %d of campaign %d: %w", i, c.ID, errKeysLost)
		case o.Result != Result(appliedChanged):
			err = fmt.Errorf("stripe %d of campaign %d: %s", i, c.ID, o.Result)
		}
	}
	return appliedChanged, left, err
}

func stripeClaims(ctx context.Context, rdb redis.UniversalClient, id int64, k int) ([]int64, error) {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.IntCmd, k)
	for i := range k {
		cmds[i] = pipe.HLen(ctx, stripeKeys(id, i, k).claimed)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]int64, k)
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// stripeScripts runs stripe_apply.lua on every stripe in one pipeline, with
// the mode's arguments from args (after the mode: generation, share,
// claims), and answers each stripe's.
func (s *Service) stripeScripts(ctx context.Context, c Campaign, args func(int) []any) ([]Outcome, error) {
	k := stripeCount(c)
	cmds := make([]*redis.Cmd, k)
	pipe := s.rdb.Pipeline()
	for i := range k {
		a := append(args(i), "", "", "")[:4] // mode, generation, share, claims
		cmds[i] = stripeApplyScript.Eval(ctx, pipe, stripeKeys(c.ID, i, k).forApply(),
			a[0], c.State, c.StartsAt.UnixMilli(), c.EndsAt.UnixMilli(), c.TotalQuantity, a[1], a[2], k, a[3])
	}
	_, _ = pipe.Exec(ctx)
	out := make([]Outcome, k)
	for i, cmd := range cmds {
		v, err := cmd.Slice()
		if err != nil {
			return nil, err
		}
		if out[i], err = pairOf(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// syncStripesLocked is syncLocked for a striped campaign: each stripe takes
// PostgreSQL's state, window and total and keeps its share; stripes with
// lost keys are rebuilt, and units that do not add up to the total (a new
// total, a spread cut short) are spread again.
func (s *Service) syncStripesLocked(ctx context.Context, q *db.Queries, c Campaign, why string) error {
	st, err := readStripes(ctx, s.rdb, c.ID, stripeCount(c))
	if err != nil {
		return unavailable(err)
	}
	if !heldOfStripes(st).Warm {
		return s.rebuildLocked(ctx, q, c, why)
	}
	res, err := s.stripeScripts(ctx, c, func(int) []any { return []any{"sync"} })
	if err != nil {
		return unavailable(err)
	}
	changed := false
	for _, o := range res {
		if o.Result == missing {
			return s.rebuildLocked(ctx, q, c, why)
		}
		changed = changed || o.Result == Result(appliedChanged)
	}
	ok, err := s.stripesAddUp(ctx, c)
	if err != nil {
		return unavailable(err)
	}
	if !ok {
		if err := s.respreadLocked(ctx, q, c, c.TotalQuantity); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		s.event(ctx, q, c.ID, "state", fmt.Sprintf("%s: Redis now holds state %s, total %d over %d stripes", why, c.State, c.TotalQuantity, stripeCount(c)))
	}
	return nil
}

// stripesAddUp says whether the stripes' shares and the units in transit add
// up to the campaign's total, in one generation. Moves run meanwhile, and
// the stripes are not read atomically together, so a mismatch is looked at
// again (after finishing what is in transit) before it counts.
func (s *Service) stripesAddUp(ctx context.Context, c Campaign) (bool, error) {
	for range 3 {
		st, err := readStripes(ctx, s.rdb, c.ID, stripeCount(c))
		if err != nil {
			return false, err
		}
		h := heldOfStripes(st)
		if h.Warm && h.Agree && h.adds(c.TotalQuantity) {
			return true, nil
		}
		if _, err := s.finishMoves(ctx, c.ID, st, 0); err != nil {
			return false, err
		}
		time.Sleep(borrowSettle)
	}
	return false, nil
}

// respreadLocked freezes the stripes and spreads total over them. When a
// stripe had lost its keys, every claim is merged back first (as a rebuild
// does), so claims are never undercounted. A new total below the claims is
// refused (belowClaimed), and the campaign's own total spread instead.
func (s *Service) respreadLocked(ctx context.Context, q *db.Queries, c Campaign, total int64) error {
	claims, warm, err := s.freezeStripes(ctx, c)
	if err != nil {
		return unavailable(err)
	}
	if !warm {
		if _, err := s.mergeAll(ctx, q, c, claims); err != nil {
			return err
		}
	}
	status, n, err := s.distribute(ctx, c, total, claims)
	if err == nil && status == appliedBelowClaimed {
		// The campaign's own total instead, or, should claims exceed even
		// that (they cannot come from claims), nothing more offered: the
		// stripes never stay frozen.
		if _, _, err = s.distribute(ctx, c, max(c.TotalQuantity, n), claims); err == nil && total != c.TotalQuantity {
			err = &belowClaimed{n}
		}
	}
	if _, ok := asBelowClaimed(err); ok {
		return err
	}
	return unavailable(err)
}

// belowClaimed is a total refused below what shoppers have claimed.
type belowClaimed struct{ claimed int64 }

func (e *belowClaimed) Error() string { return fmt.Sprintf("%d coupons are claimed", e.claimed) }

func asBelowClaimed(err error) (int64, bool) {
	var b *belowClaimed
	if errors.As(err, &b) {
		return b.claimed, true
	}
	return 0, false
}

// StripeKeys are every key of a campaign of k stripes, by stripe (the bench
// deletes its campaigns with them).
func StripeKeys(campaignID int64, k int) [][]string {
	out := make([][]string, max(k, 1))
	for i := range out {
		sk := stripeKeys(campaignID, i, len(out))
		out[i] = []string{sk.meta, sk.stock, sk.claimed, sk.claims, sk.out}
	}
	return out
}

// RedisClaimed is how many shoppers Redis holds as claimed, over k stripes.
func RedisClaimed(ctx context.Context, rdb redis.UniversalClient, campaignID int64, k int) (int64, error) {
	n, err := stripeClaims(ctx, rdb, campaignID, max(k, 1))
	var sum int64
	for _, x := range n {
		sum += x
	}
	return sum, err
}

// RedisBacklog is how many claims wait in the streams of k stripes.
func RedisBacklog(ctx context.Context, rdb redis.UniversalClient, campaignID int64, k int) (int64, error) {
	var sum int64
	for i := range max(k, 1) {
		n, err := rdb.XLen(ctx, stripeKeys(campaignID, i, k).claims).Result()
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}
