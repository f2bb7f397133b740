package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/config"
	"market/internal/order"
	"market/internal/seed"
)

// pageKind is one page the bench measures; admin pages have the admin bar.
type pageKind struct {
	name  string
	admin bool
}

// pageKinds, in report order.
var pageKinds = []pageKind{
	{"admin orders: newest", true},
	{"admin orders: by status", true},
	{"admin orders: date range", true},
	{"admin orders: shopper email", true},
	{"admin orders: order number", true},
	{"admin order page", true},
	{"admin shoppers: prefix", true},
	{"admin shoppers: prefix, page 2", true},
	{"admin shopper page", true},
	{"admin audit", true},
	{"shopper orders: first page", false},
	{"shopper orders: later page", false},
	{"shopper order page", false},
}

// pageRequest is one drawn page: its path, whose session asks, what its
// HTML must contain, and what its JSON must say (check, pages_check.go).
type pageRequest struct {
	kind   string
	path   string
	cookie *http.Cookie
	marker string
	check  pageCheck
}

// pagesPlan is every drawn request: the untimed warm-up and the timed list
// (kinds interleaved at random); requests holds each distinct one once.
type pagesPlan struct {
	warmup, timed, requests []*pageRequest
}

// pagesSample is what the pages are drawn from.
type pagesSample struct {
	orders   []sampleOrder // random orders of any shopper
	shoppers []sampleShopper
	loggedIn []loggedShopper
	days     []time.Time // the first day with orders, and today
}

type sampleOrder struct {
	id, userID int64
	email      string
}

type sampleShopper struct {
	id          int64
	email, name string
}

type loggedShopper struct {
	sampleShopper
	cookie *http.Cookie
	orders []int64 // newest first
}

// drawPages reads samples of the data, logs the admin and the shoppers in,
// and draws o.each requests of every kind plus the warm-up.
func drawPages(ctx context.Context, tools *pgxpool.Pool, shop *pagesShop, rng *rand.Rand, o pagesOptions, cfg config.Config) (*pagesPlan, error) {
	smp, err := readPagesSample(ctx, tools, rng, o.shoppers)
	if err != nil {
		return nil, err
	}
	admin, err := shop.login(ctx, cfg.AdminEmail, cfg.AdminPassword)
	if err != nil {
		return nil, err
	}
	for i := range smp.loggedIn {
		if smp.loggedIn[i].cookie, err = shop.login(ctx, smp.loggedIn[i].email, seed.DemoShopperPassword); err != nil {
			return nil, fmt.Errorf("%w (the bench logs in seeded shoppers with the demo password)", err)
		}
	}
	d := &pageDrawer{rng: rng, s: smp, admin: admin, shop: shop}
	plan := &pagesPlan{}
	for range o.each {
		for _, k := range pageKinds {
			r, err := d.draw(ctx, k.name)
			if err != nil {
				return nil, err
			}
			plan.timed = append(plan.timed, r)
		}
	}
	rng.Shuffle(len(plan.timed), func(i, j int) { plan.timed[i], plan.timed[j] = plan.timed[j], plan.timed[i] })
	for i := range o.warmup {
		plan.warmup = append(plan.warmup, plan.timed[i%len(plan.timed)])
	}
	plan.requests = plan.timed
	fmt.Printf("drew %d requests over %d orders, %d shoppers and %d logged-in shoppers\n", len(plan.timed), len(smp.orders), len(smp.shoppers), len(smp.loggedIn))
	return plan, nil
}

// readPagesSample draws orders and shoppers uniformly by id, and the
// shoppers to log in: half among those with more than two pages of
// orders (deep history), half from every shopper.
func readPagesSample(ctx context.Context, tools *pgxpool.Pool, rng *rand.Rand, logged int) (pagesSample, error) {
	var s pagesSample
	var lo, hi int64
	var first time.Time
	if err := tools.QueryRow(ctx, "SELECT coalesce(min(id), 0), coalesce(max(id), 0), coalesce(min(created_at), now()) FROM orders").Scan(&lo, &hi, &first); err != nil {
		return s, err
	}
	if hi-lo < 100 {
		return s, errors.New("pages bench: too few orders; seed them first (market seed -orders N, docs/PERFORMANCE.md)")
	}
	s.days = []time.Time{first, time.Now()}
	ids := make([]int64, 2000)
	for i := range ids {
		ids[i] = lo + rng.Int64N(hi-lo+1)
	}
	rows, err := tools.Query(ctx, `SELECT o.id, o.user_id, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = ANY($1) ORDER BY o.id`, ids)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var x sampleOrder
		if err := rows.Scan(&x.id, &x.userID, &x.email); err != nil {
			return s, err
		}
		s.orders = append(s.orders, x)
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	if s.shoppers, err = sampleShoppers(ctx, tools, rng); err != nil {
		return s, err
	}
	s.loggedIn, err = shoppersToLogIn(ctx, tools, rng, logged)
	return s, err
}

func sampleShoppers(ctx context.Context, tools *pgxpool.Pool, rng *rand.Rand) ([]sampleShopper, error) {
	var lo, hi int64
	if err := tools.QueryRow(ctx, "SELECT min(id), max(id) FROM users WHERE role = 'shopper'").Scan(&lo, &hi); err != nil {
		return nil, err
	}
	ids := make([]int64, 1000)
	for i := range ids {
		ids[i] = lo + rng.Int64N(hi-lo+1)
	}
	rows, err := tools.Query(ctx, "SELECT id, email, name FROM users WHERE id = ANY($1) AND role = 'shopper' ORDER BY id", ids)
	if err != nil {
		return nil, err
	}
	var out []sampleShopper
	for rows.Next() {
		var x sampleShopper
		if err := rows.Scan(&x.id, &x.email, &x.name); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// shoppersToLogIn picks n seeded shoppers (the demo password is theirs)
// with their order ids: n/2 among those with more than 40 orders.
func shoppersToLogIn(ctx context.Context, tools *pgxpool.Pool, rng *rand.Rand, n int) ([]loggedShopper, error) {
	rows, err := tools.Query(ctx, `
		(SELECT u.id, u.email, u.name FROM users u JOIN (SELECT user_id FROM orders GROUP BY user_id HAVING count(*) > 40) d ON d.user_id = u.id
		 WHERE u.email LIKE 'shopper%@example.test' ORDER BY hashint8(u.id + $1) LIMIT $2)
		UNION ALL
		(SELECT u.id, u.email, u.name FROM users u WHERE u.email LIKE 'shopper%@example.test'
		 AND EXISTS (SELECT FROM orders o WHERE o.user_id = u.id) ORDER BY hashint8(u.id - $1) LIMIT $2)`, rng.Int64N(1<<40), n/2)
	if err != nil {
		return nil, err
	}
	var out []loggedShopper
	for rows.Next() {
		var x loggedShopper
		if err := rows.Scan(&x.id, &x.email, &x.name); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("pages bench: no seeded shopper (shopperN@example.test) has orders")
	}
	for i := range out {
		if err := tools.QueryRow(ctx, "SELECT array_agg(id ORDER BY id DESC) FROM orders WHERE user_id = $1", out[i].id).Scan(&out[i].orders); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pageDrawer draws one request of a kind.
type pageDrawer struct {
	rng   *rand.Rand
	s     pagesSample
	admin *http.Cookie
	shop  *pagesShop
}

func (d *pageDrawer) draw(ctx context.Context, kind string) (*pageRequest, error) {
	rng := d.rng
	anyOrder := d.s.orders[rng.IntN(len(d.s.orders))]
	shopper := d.s.shoppers[rng.IntN(len(d.s.shoppers))]
	me := d.s.loggedIn[rng.IntN(len(d.s.loggedIn))]
	r := &pageRequest{kind: kind, cookie: d.admin, marker: "<h1>Orders</h1>"}
	switch kind {
	case "admin orders: newest":
		r.path, r.check = "/admin/orders", checkAdminOrders(order.Filter{})
	case "admin orders: by status":
		st := order.Statuses[rng.IntN(len(order.Statuses))]
		r.path, r.check = "/admin/orders?status="+st, checkAdminOrders(order.Filter{Status: st})
	case "admin orders: date range":
		from, to := d.dayRange()
		r.path = "/admin/orders?from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly)
		end := to.AddDate(0, 0, 1)
		r.check = checkAdminOrders(order.Filter{From: &from, Before: &end})
	case "admin orders: shopper email":
		r.path, r.check = "/admin/orders?email="+url.QueryEscape(anyOrder.email), checkAdminOrders(order.Filter{Email: anyOrder.email})
	case "admin orders: order number":
		r.path, r.check = "/admin/orders?order="+itoa(anyOrder.id), checkAdminOrders(order.Filter{OrderID: anyOrder.id})
	case "admin order page":
		r.path, r.marker, r.check = "/admin/orders/"+itoa(anyOrder.id), "Order #"+itoa(anyOrder.id), checkAdminOrder(anyOrder)
	case "admin shoppers: prefix", "admin shoppers: prefix, page 2":
		return d.drawShopperSearch(ctx, kind, shopper)
	case "admin shopper page":
		r.path, r.marker, r.check = "/admin/shoppers/"+itoa(shopper.id), shopper.email, checkAdminShopper(shopper)
	case "admin audit":
		r.path, r.marker, r.check = d.auditPath()
	case "shopper orders: first page":
		r.cookie, r.path, r.marker, r.check = me.cookie, "/orders", "<h1>Your orders</h1>", checkHistory(me, 0)
	case "shopper orders: later page":
		before := me.orders[rng.IntN(len(me.orders))]
		if len(me.orders) > order.OrdersPageSize { // a cursor a page or more deep
			before = me.orders[order.OrdersPageSize-1+rng.IntN(len(me.orders)-order.OrdersPageSize+1)]
		}
		r.cookie, r.path, r.marker, r.check = me.cookie, "/orders?before="+itoa(before), "<h1>Your orders</h1>", checkHistory(me, before)
	case "shopper order page":
		id := me.orders[rng.IntN(len(me.orders))]
		r.cookie, r.path, r.marker, r.check = me.cookie, "/orders/"+itoa(id), "Order #"+itoa(id), checkShopperOrder(me.id, id)
	default:
		return nil, fmt.Errorf("pages bench: no page kind %q", kind)
	}
	return r, nil
}

// dayRange is 1–7 days within the orders' time, in the shop's zone.
func (d *pageDrawer) dayRange() (time.Time, time.Time) {
	first, last := d.s.days[0].In(time.Local), d.s.days[1].In(time.Local)
	span := int(last.Sub(first).Hours()/24) + 1
	y, m, day := first.Date()
	from := time.Date(y, m, day, 0, 0, 0, 0, time.Local).AddDate(0, 0, d.rng.IntN(span))
	return from, from.AddDate(0, 0, d.rng.IntN(7))
}

// drawShopperSearch searches for the start (3–8 characters) of a shopper's
// email or lower-cased name; page 2 follows the first page's cursor, read
// now, untimed.
func (d *pageDrawer) drawShopperSearch(ctx context.Context, kind string, s sampleShopper) (*pageRequest, error) {
	word := s.email
	if d.rng.IntN(2) == 0 {
		word = strings.ToLower(s.name)
	}
	q := word[:min(len(word), 3+d.rng.IntN(6))]
	r := &pageRequest{kind: kind, cookie: d.admin, marker: "<h1>Shoppers</h1>", path: "/admin/shoppers?q=" + url.QueryEscape(q)}
	after := ""
	if kind == "admin shoppers: prefix, page 2" {
		status, body, _, err := d.shop.get(ctx, r.path, d.admin, true)
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("pages bench: %s: status %d, %v", r.path, status, err)
		}
		if after = nextCursor(body); after != "" {
			r.path += "&after=" + after
		}
	}
	r.check = checkShopperSearch(strings.ToLower(q), after)
	return r, nil
}

// auditPath is the first page of the trail: unfiltered, orders only, or a day.
func (d *pageDrawer) auditPath() (string, string, pageCheck) {
	switch d.rng.IntN(3) {
	case 0:
		return "/admin/audit", "<h1>Audit trail</h1>", checkAudit("", nil, nil)
	case 1:
		return "/admin/audit?kind=order", "<h1>Audit trail</h1>", checkAudit("order", nil, nil)
	default:
		from, _ := d.dayRange()
		end := from.AddDate(0, 0, 1)
		day := from.Format(time.DateOnly)
		return "/admin/audit?from=" + day + "&to=" + day, "<h1>Audit trail</h1>", checkAudit("", &from, &end)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
