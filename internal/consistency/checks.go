package consistency

import (
	"context"
	"fmt"
	"strings"
	"time"

	"market/internal/coupon"
	"market/internal/db"
)

// Check names, one per family of invariants.
const (
	nameBalance       = "balance = balance ledger, balance ≥ 0"
	namePoints        = "points = points ledger, points ≥ 0"
	nameOrderAmount   = "charged = items − discount − points"
	nameCouponOrder   = "a used coupon belongs to exactly one live order"
	nameOrderRefunds  = "refunds ≤ charged, and in the balance ledger"
	nameRedisState    = "Redis state = PostgreSQL state"
	nameRedisConfig   = "Redis total = PostgreSQL total"
	nameRedisTotal    = "Redis claimed + Redis remaining = total"
	nameRedisCovers   = "PostgreSQL coupons ≤ Redis claimed"
	nameStreamCovers  = "PostgreSQL coupons + pending stream entries = Redis claimed"
	nameNeverOver     = "issued ≤ total (Redis and PostgreSQL)"
	namePersisted     = "persisted count = coupon rows"
	nameDeadLetters   = "no dead-lettered claims left"
	nameSearchCopy    = "in stock for search = stock > 0"
	repairRebuild     = "rebuild_campaign"
	repairRedrive     = "redrive_dead_letters"
	campaignAttempts  = 3
	campaignRetryWait = 150 * time.Millisecond
)

// summary is a family's first row: how many subjects agree.
func summary(name, noun string, total int64, failing int) Check {
	agree := total - int64(failing)
	detail := fmt.Sprintf("%d of %d %s agree", agree, total, noun)
	if failing >= maxRows {
		detail = fmt.Sprintf("at least %d of %d %s disagree (the first %d are listed)", failing, total, noun, maxRows)
	}
	return Check{Name: name, Subject: fmt.Sprintf("all %d %s", total, noun), OK: failing == 0, Left: agree, Right: total, Detail: detail}
}

// walletChecks: per shopper, balance = sum of the balance ledger, points =
// sum of the points ledger, both ≥ 0. A drift is explained by the orders
// whose ledger rows do not add up to what the order moved.
func (s *Service) walletChecks(ctx context.Context) ([]Check, error) {
	n, err := s.q.CountSubjects(ctx)
	if err != nil {
		return nil, err
	}
	drift, err := s.q.WalletDrift(ctx, maxRows)
	if err != nil {
		return nil, err
	}
	gaps := map[int64][]db.OrderLedgerGapsRow{}
	if len(drift) > 0 {
		ids := make([]int64, len(drift))
		for i, d := range drift {
			ids[i] = d.ID
		}
		rows, err := s.q.OrderLedgerGaps(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, g := range rows {
			gaps[g.UserID] = append(gaps[g.UserID], g)
		}
	}
	var balance, points []Check
	for _, d := range drift {
		subject := fmt.Sprintf("shopper %d (%s)", d.ID, d.Email)
		if d.Balance != d.BalanceLedger || d.Balance < 0 {
			var why []string
			for _, g := range gaps[d.ID] {
				if g.BalanceExpected != g.BalanceLedger {
					why = append(why, fmt.Sprintf("order %d (%s) moved %d but its ledger rows sum to %d", g.ID, g.Status, g.BalanceExpected, g.BalanceLedger))
				}
			}
			balance = append(balance, Check{Name: nameBalance, Subject: subject, Left: d.Balance, Right: d.BalanceLedger,
				Detail: ledgerDetail("balance", d.Balance, d.BalanceLedger, d.BalanceRows, d.BalanceLastID, why)})
		}
		if d.Points != d.PointsLedger || d.Points < 0 {
			var why []string
			for _, g := range gaps[d.ID] {
				if g.PointsExpected != g.PointsLedger {
					why = append(why, fmt.Sprintf("order %d (%s) moved %d points but its ledger rows sum to %d", g.ID, g.Status, g.PointsExpected, g.PointsLedger))
				}
			}
			points = append(points, Check{Name: namePoints, Subject: subject, Left: d.Points, Right: d.PointsLedger,
				Detail: ledgerDetail("points", d.Points, d.PointsLedger, d.PointsRows, d.PointsLastID, why)})
		}
	}
	out := []Check{summary(nameBalance, "shoppers", n.Users, len(balance))}
	out = append(out, balance...)
	out = append(out, summary(namePoints, "shoppers", n.Users, len(points)))
	return append(out, points...), nil
}

func ledgerDetail(what string, have, ledger, rows, lastID int64, why []string) string {
	d := fmt.Sprintf("%s is %d; its %d ledger rows (newest id %d) sum to %d: off by %+d", what, have, rows, lastID, ledger, have-ledger)
	if have < 0 {
		d += "; negative"
	}
	if len(why) > 0 {
		d += "; " + strings.Join(why, "; ")
	} else {
		d += "; every order's ledger rows add up, so the drift is outside the orders (a top-up, or an edit without a ledger row)"
	}
	return d
}

// orderChecks: per order, subtotal = its items and charged = items −
// discount − points; what refunds and a cancel gave back is at most the
// charge and is in the balance ledger; a used coupon belongs to exactly one
// live order, the one it names, and an order's coupon is used by it.
func (s *Service) orderChecks(ctx context.Context) ([]Check, error) {
	n, err := s.q.CountSubjects(ctx)
	if err != nil {
		return nil, err
	}
	amounts, err := s.q.OrderAmountDrift(ctx, maxRows)
	if err != nil {
		return nil, err
	}
	out := []Check{summary(nameOrderAmount, "orders", n.Orders, len(amounts))}
	for _, o := range amounts {
		want := o.Items - o.Discount - o.PointsUsed
		out = append(out, Check{Name: nameOrderAmount, Subject: fmt.Sprintf("order %d (shopper %d, %s)", o.ID, o.UserID, o.Status),
			Left: o.Charged, Right: want,
			Detail: fmt.Sprintf("%d item lines sum to %d (subtotal says %d); %d − discount %d − points %d = %d, but %d was charged",
				o.Lines, o.Items, o.Subtotal, o.Items, o.Discount, o.PointsUsed, want, o.Charged)})
	}
	refunds, err := s.q.OrderRefundDrift(ctx, maxRows)
	if err != nil {
		return nil, err
	}
	out = append(out, summary(nameOrderRefunds, "orders", n.Orders, len(refunds)))
	for _, o := range refunds {
		out = append(out, Check{Name: nameOrderRefunds, Subject: fmt.Sprintf("order %d (shopper %d)", o.ID, o.UserID),
			Left: o.Refunded, Right: o.Ledger,
			Detail: fmt.Sprintf("the order gave back %d of %d charged; its refund rows in the balance ledger sum to %d", o.Refunded, o.Charged, o.Ledger)})
	}
	coupons, err := s.q.CouponOrderDrift(ctx, maxRows)
	if err != nil {
		return nil, err
	}
	out = append(out, summary(nameCouponOrder, "used coupons", n.UsedCoupons, len(coupons)))
	for _, c := range coupons {
		want := int64(0)
		if c.Status == "used" {
			want = 1
		}
		out = append(out, Check{Name: nameCouponOrder, Subject: fmt.Sprintf("coupon %d (shopper %d, campaign %d)", c.ID, c.UserID, c.CampaignID),
			Left: c.LiveOrders, Right: want, Detail: couponDetail(c)})
	}
	return out, nil
}

func couponDetail(c db.CouponOrderDriftRow) string {
	var d string
	switch {
	case c.Status != "used":
		d = fmt.Sprintf("the coupon is %s, yet live orders %v use it", c.Status, c.LiveOrderIds)
	case c.OrderID == nil:
		d = "the coupon is used but names no order"
	case c.OrderStatus == nil:
		d = fmt.Sprintf("the coupon is used by order %d, which does not exist", *c.OrderID)
	case *c.OrderStatus == "cancelled":
		d = fmt.Sprintf("the coupon is used by order %d, which is %s", *c.OrderID, *c.OrderStatus)
	default:
		d = fmt.Sprintf("the coupon is used by order %d, which does not name it", *c.OrderID)
	}
	return fmt.Sprintf("%s; live orders using it: %v", d, c.LiveOrderIds)
}

// campaignChecks compares each campaign past draft in Redis and in
// PostgreSQL. Redis is read first (one MULTI per campaign), PostgreSQL
// second, and pending entries the flusher has written in between are not
// counted twice. A claim landing during the run can still make a campaign
// differ for an instant, so a red campaign is read again (up to
// campaignAttempts times) before it is reported.
func (s *Service) campaignChecks(ctx context.Context) ([]Check, error) {
	var out []Check
	for attempt := 1; ; attempt++ {
		checks, red, err := s.campaignChecksOnce(ctx)
		if err != nil || !red || attempt == campaignAttempts {
			return checks, err
		}
		out = checks
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(campaignRetryWait):
		}
	}
}

func (s *Service) campaignChecksOnce(ctx context.Context) ([]Check, bool, error) {
	ids, err := s.q.CheckedCampaigns(ctx)
	if err != nil {
		return nil, false, err
	}
	states, err := s.coupons.RedisStates(ctx, ids)
	if err != nil {
		return nil, false, err
	}
	var sc, su []int64
	redis := make(map[int64]coupon.RedisState, len(states))
	for _, st := range states {
		redis[st.CampaignID] = st
		for _, u := range st.StreamUsers {
			sc, su = append(sc, st.CampaignID), append(su, u)
		}
	}
	rows, err := s.q.CampaignCounts(ctx, db.CampaignCountsParams{StreamCampaignIds: sc, StreamUserIds: su, Ids: ids})
	if err != nil {
		return nil, false, err
	}
	names := []string{nameRedisState, nameRedisConfig, nameRedisTotal, nameRedisCovers, nameStreamCovers, nameNeverOver, namePersisted, nameDeadLetters}
	red := map[string][]Check{}
	for _, c := range rows {
		for _, ch := range campaignRows(c, redis[c.ID]) {
			if !ch.OK {
				red[ch.Name] = append(red[ch.Name], ch)
			}
		}
	}
	var out []Check
	anyRed := false
	for _, name := range names {
		out = append(out, summary(name, "campaigns", int64(len(rows)), len(red[name])))
		out = append(out, red[name]...)
		anyRed = anyRed || len(red[name]) > 0
	}
	return out, anyRed, nil
}

// campaignRows are one campaign's checks, green and red.
func campaignRows(c db.CampaignCountsRow, r coupon.RedisState) []Check {
	subject := fmt.Sprintf("campaign %d (%s, %s)", c.ID, c.Name, c.State)
	row := func(name string, ok bool, left, right int64, repair, detail string) Check {
		ch := Check{Name: name, Subject: subject, OK: ok, Left: left, Right: right, Detail: detail, CampaignID: c.ID}
		if !ok {
			ch.Repair = repair
		}
		return ch
	}
	issued := c.Coupons
	out := []Check{
		row(namePersisted, c.PersistedCount == c.Coupons, c.PersistedCount, c.Coupons, "",
			fmt.Sprintf("persisted_count says %d, the coupons table holds %d", c.PersistedCount, c.Coupons)),
		row(nameDeadLetters, c.DeadLetters == 0, c.DeadLetters, 0, repairRedrive,
			fmt.Sprintf("%d claims failed to persist and wait in coupon_dead_letters", c.DeadLetters)),
	}
	if !r.Warm {
		// Not in Redis: claims are refused (a claim first rebuilds it), and the
		// background sync rebuilds it within a second or two. The counts are
		// only checked on PostgreSQL's side.
		cold := "not in Redis; the background sync or the next claim rebuilds it from PostgreSQL"
		out = append(out,
			row(nameRedisState, false, 0, 1, repairRebuild, "Redis holds no state for it; PostgreSQL says "+c.State),
			row(nameRedisConfig, false, 0, c.TotalQuantity, repairRebuild, fmt.Sprintf("Redis holds no total for it; PostgreSQL says %d", c.TotalQuantity)),
			row(nameRedisTotal, true, 0, c.TotalQuantity, "", cold),
			row(nameRedisCovers, true, c.Coupons, 0, "", cold),
			row(nameStreamCovers, true, c.Coupons, 0, "", cold),
			row(nameNeverOver, c.Coupons <= c.TotalQuantity, c.Coupons, c.TotalQuantity, "",
				fmt.Sprintf("PostgreSQL holds %d coupons of %d", c.Coupons, c.TotalQuantity)))
		return out
	}
	newPending := r.Pending - c.AlreadyPersisted
	issued = max(issued, r.Claimed)
	out = append(out,
		row(nameRedisState, r.State == c.State, oneIf(r.State == c.State), 1, repairRebuild,
			fmt.Sprintf("Redis answers claims as %s; PostgreSQL says %s", r.State, c.State)),
		row(nameRedisConfig, r.Total == c.TotalQuantity, r.Total, c.TotalQuantity, repairRebuild,
			fmt.Sprintf("Redis counts stock from a total of %d; PostgreSQL says %d", r.Total, c.TotalQuantity)),
		row(nameRedisTotal, r.Claimed+r.Remaining == c.TotalQuantity, r.Claimed+r.Remaining, c.TotalQuantity, repairRebuild,
			fmt.Sprintf("Redis: %d claimed + %d remaining = %d; the campaign's total is %d", r.Claimed, r.Remaining, r.Claimed+r.Remaining, c.TotalQuantity)),
		row(nameRedisCovers, c.Coupons <= r.Claimed, c.Coupons, r.Claimed, repairRebuild,
			fmt.Sprintf("PostgreSQL holds %d coupons, Redis knows %d claims", c.Coupons, r.Claimed)),
		row(nameStreamCovers, c.Coupons+newPending == r.Claimed, c.Coupons+newPending, r.Claimed, streamRepair(c),
			fmt.Sprintf("%d persisted + %d pending (%d more pending entries already persisted) vs %d claimed in Redis; %d dead letters",
				c.Coupons, newPending, c.AlreadyPersisted, r.Claimed, c.DeadLetters)),
		row(nameNeverOver, issued <= c.TotalQuantity && r.Claimed <= c.TotalQuantity, issued, c.TotalQuantity, "",
			fmt.Sprintf("Redis claimed %d, PostgreSQL holds %d, of %d", r.Claimed, c.Coupons, c.TotalQuantity)),
	)
	return out
}

// streamRepair: claims Redis holds and PostgreSQL lacks are re-driven when
// they were dead-lettered, and written back by a rebuild otherwise.
func streamRepair(c db.CampaignCountsRow) string {
	if c.DeadLetters > 0 {
		return repairRedrive
	}
	return repairRebuild
}

// searchChecks: products.in_stock, which the search's in_stock filter reads,
// says what product_stock says.
func (s *Service) searchChecks(ctx context.Context) ([]Check, error) {
	total, err := s.q.CountProducts(ctx)
	if err != nil {
		return nil, err
	}
	drift, err := s.q.InStockDrift(ctx, maxRows)
	if err != nil {
		return nil, err
	}
	out := []Check{summary(nameSearchCopy, "products", total, len(drift))}
	for _, d := range drift {
		out = append(out, Check{Name: nameSearchCopy, Subject: fmt.Sprintf("product %d (%s)", d.ProductID, d.Name),
			Left: oneIf(d.InStock), Right: oneIf(d.Stock > 0),
			Detail: fmt.Sprintf("search sees in stock: %t, the stock is %d", d.InStock, d.Stock)})
	}
	return out, nil
}

func oneIf(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
