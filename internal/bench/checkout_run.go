package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/errs"
	"market/internal/order"
	"market/internal/reqctx"
	"market/web"
)

// Every bench buyer tops up checkoutTopUp and buys one unit at checkoutPrice, with
// no coupon and no points: an order is right only if it charged exactly that.
const (
	checkoutPrice = 1000
	checkoutTopUp = 10_000
)

// The bench's buyers are buyerPrefix + kind + "-" + i + buyerDomain.
const (
	buyerPrefix = "bench-checkout-"
	buyerDomain = "@bench.invalid"
)

// checkoutAnswer is how one buyer's checkout was answered.
type checkoutAnswer int

const (
	coPlaced checkoutAnswer = iota
	coSoldOut
	coBusy        // 503: a 5xx, so the run fails
	coServerError // any other 5xx, or an unexpected error from the service
	coTransport   // no answer at all
	coWrong       // an answer the buyer should not have had
	coAnswerKinds
)

var coAnswerNames = [coAnswerKinds]string{"placed", "sold out", "503 busy", "5xx", "transport errors", "wrong answers"}

// runResult is one run's answers, speed and failed checks.
type runResult struct {
	rate     float64
	count    [coAnswerKinds]int
	first    [coAnswerKinds]string // the first answer of each kind, as an example
	p50, p99 time.Duration
	retries  int64
	// CPU per placed order during the run: this process (shop and load
	// generator) and the PostgreSQL server.
	cpuSelf, cpuServer time.Duration
	problems           []string // each failed check in words; any one fails the bench
}

// checkoutCrowd is what one run seeded: products, and buyers with one unit
// of their product in the cart.
type checkoutCrowd struct {
	products  []int64
	stock     int64 // opening stock of each product
	buyers    []int64
	productOf map[int64]int64
	cookies   map[int64]*http.Cookie // HTTP only
	sessions  crowd                  // the cookies' sessions, ended after the run
}

// checkoutRun seeds a catalogue and its buyers, sends them all to checkout
// at once, and checks every answer and ledger afterwards.
func checkoutRun(ctx context.Context, admin *pgxpool.Pool, svc *order.Service, h *checkoutHTTP, run string, f checkoutFlags, spread bool) (runResult, error) {
	kind, n, per := "hot", 1, f.stock
	if spread {
		kind, n, per = "spread", f.products, int64(f.buyers) // plenty: the spread run measures throughput, not sell-outs
	}
	crowd, err := seedCheckoutCrowd(ctx, admin, svc, h, run+"-"+svc.Locking()+"-"+kind, svc.Locking()+"-"+kind, n, per, f.buyers)
	if h != nil {
		defer func() { _ = crowd.sessions.end(ctx, h.open) }()
	}
	if err != nil {
		return runResult{}, err
	}
	retriesBefore := svc.Retries()
	cpu := startCPU(ctx, admin)
	res, soldOutOf := driveCheckoutCrowd(ctx, svc, h, crowd, f.concurrency)
	self, server := cpu.stop(ctx)
	res.retries = svc.Retries() - retriesBefore
	if n := res.count[coPlaced]; n > 0 {
		res.cpuSelf, res.cpuServer = self/time.Duration(n), server/time.Duration(n)
	}
	for o := coBusy; o < coAnswerKinds; o++ {
		if res.count[o] > 0 {
			res.problems = append(res.problems, fmt.Sprintf("%d %s (first: %s)", res.count[o], coAnswerNames[o], res.first[o]))
		}
	}
	checks, err := verifyCheckoutCrowd(ctx, admin, crowd, res.count[coPlaced], soldOutOf)
	res.problems = append(res.problems, checks...)
	return res, err
}

// seedCheckoutCrowd creates n products of the given stock and the buyers, each with
// money and one unit of product i%n in the cart. Products are the run's own
// (tag); buyers are the bench's (kind: a strategy and a catalogue), made once
// and kept, because removing a shopper reads whole the tables that name one
// without an index (stock_ledger, order_events); cleanup empties them.
func seedCheckoutCrowd(ctx context.Context, admin *pgxpool.Pool, svc *order.Service, h *checkoutHTTP, tag, kind string, n int, stock int64, buyers int) (checkoutCrowd, error) {
	c := checkoutCrowd{products: make([]int64, n), stock: stock, buyers: make([]int64, buyers),
		productOf: make(map[int64]int64, buyers), cookies: make(map[int64]*http.Cookie, buyers)}
	for i := range c.products {
		err := admin.QueryRow(ctx, `WITH c AS (INSERT INTO categories (slug, name) VALUES ('bench', 'Bench')
				ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id),
			p AS (INSERT INTO products (sku, name, brand, category_id, price)
				SELECT $1, 'Bench product', 'Bench', c.id, $3 FROM c RETURNING id)
			INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, $2, $2 FROM p RETURNING product_id`,
			fmt.Sprintf("BENCH-%s-%d", tag, i), stock, checkoutPrice).Scan(&c.products[i])
		if err != nil {
			return c, err
		}
	}
	for i := range c.buyers {
		err := admin.QueryRow(ctx, `WITH u AS (INSERT INTO users (email, password_hash, name) VALUES ($1, 'bench', 'Bench buyer')
					ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING id),
				a AS (INSERT INTO addresses (user_id, recipient, phone, postal_code, line1, is_default)
					SELECT id, 'Bench buyer', '01012345678', '06236', '1 Teheran-ro', true FROM u
					WHERE NOT EXISTS (SELECT 1 FROM addresses a WHERE a.user_id = u.id))
			SELECT id FROM u`,
			fmt.Sprintf("%s%s-%d%s", buyerPrefix, kind, i, buyerDomain)).Scan(&c.buyers[i])
		if err != nil {
			return c, err
		}
		u := c.buyers[i]
		c.productOf[u] = c.products[i%n]
		if _, err := svc.TopUp(ctx, u, checkoutTopUp); err != nil {
			return c, err
		}
		if _, err := svc.SetItem(ctx, u, c.productOf[u], 1); err != nil {
			return c, err
		}
		if h != nil {
			var sid string
			if c.cookies[u], sid, err = web.SessionCookie(h.secret, h.open, reqctx.User{ID: u, Name: "Bench buyer"}); err != nil {
				return c, err
			}
			c.sessions.ids, c.sessions.sids = append(c.sessions.ids, u), append(c.sessions.sids, sid)
		}
	}
	return c, nil
}

// driveCheckoutCrowd sends every buyer to checkout, concurrency at a time, all
// workers released together; it returns the answers and, per product, how
// many buyers were told it was sold out.
func driveCheckoutCrowd(ctx context.Context, svc *order.Service, h *checkoutHTTP, c checkoutCrowd, concurrency int) (runResult, map[int64]int) {
	var (
		mu        sync.Mutex
		res       runResult
		latencies = make([]time.Duration, 0, len(c.buyers))
		soldOutOf = map[int64]int{}
		wg        sync.WaitGroup
	)
	work := make(chan int64)
	start := make(chan struct{})
	for range concurrency {
		wg.Go(func() {
			<-start
			for u := range work {
				t0 := time.Now()
				var o checkoutAnswer
				var detail string
				if h != nil {
					o, detail = h.checkout(c.cookies[u], c.productOf[u])
				} else {
					o, detail = checkoutViaService(ctx, svc, u, c.productOf[u])
				}
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				if res.count[o] == 0 {
					res.first[o] = detail
				}
				res.count[o]++
				if o == coSoldOut {
					soldOutOf[c.productOf[u]]++
				}
				mu.Unlock()
			}
		})
	}
	t0 := time.Now()
	close(start)
	for _, u := range c.buyers {
		work <- u
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(t0)

	slices.Sort(latencies)
	res.rate = float64(res.count[coPlaced]) / elapsed.Seconds()
	res.p50 = latencies[len(latencies)/2]
	res.p99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]
	return res, soldOutOf
}

// checkoutViaService is one buyer's checkout through order.Service directly,
// named as the HTTP answer would be.
func checkoutViaService(ctx context.Context, svc *order.Service, user, product int64) (checkoutAnswer, string) {
	o, created, err := svc.Checkout(ctx, order.CheckoutInput{UserID: user, Key: "bench"})
	switch {
	case err == nil && !created:
		return coWrong, fmt.Sprintf("order %d replayed, not created", o.ID)
	case err == nil:
		items := make([]checkoutItem, len(o.Items))
		for i, it := range o.Items {
			items[i] = checkoutItem{ProductID: it.ProductID, Price: it.Price, Quantity: it.Quantity}
		}
		return judgeCheckoutOrder(checkoutOrder{ID: o.ID, Status: o.Status, Charged: o.Charged, Items: items}, product)
	case errs.Is(err, order.CodeOutOfStock):
		return coSoldOut, ""
	case errs.Is(err, errs.Busy):
		return coBusy, err.Error()
	}
	return coServerError, err.Error()
}

// checkoutOrder is the part of a placed order's answer the bench checks.
type checkoutOrder struct {
	ID      int64          `json:"id"`
	Status  string         `json:"status"`
	Charged int64          `json:"charged"`
	Items   []checkoutItem `json:"items"`
}

type checkoutItem struct {
	ProductID int64 `json:"product_id"`
	Price     int64 `json:"price"`
	Quantity  int64 `json:"quantity"`
}

// judgeCheckoutOrder accepts an order only if it is the buyer's cart as bought: one
// unit of their product at the bench price, charged in full.
func judgeCheckoutOrder(o checkoutOrder, product int64) (checkoutAnswer, string) {
	want := checkoutItem{ProductID: product, Price: checkoutPrice, Quantity: 1}
	if o.ID <= 0 || o.Status != "placed" || o.Charged != checkoutPrice || len(o.Items) != 1 || o.Items[0] != want {
		return coWrong, fmt.Sprintf("order %+v for one unit of product %d at %d", o, product, checkoutPrice)
	}
	return coPlaced, ""
}
