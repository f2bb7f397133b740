package bench

import (
	"math/rand/v2"
	"strings"
	"testing"

	"market/internal/config"
	"market/internal/seed"
	"market/internal/testenv"
)

// The pages bench, run small against the real handler, finds every answer
// right; and its checks name a page that answers wrong, an error status, or
// a page without its content.
func TestThePagesBenchChecksEveryAnswer(t *testing.T) {
	ctx := t.Context()
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"ADMIN_EMAIL": "admin@example.test", "ADMIN_PASSWORD": "admin-password-for-tests"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.Products(ctx, pool, 400, nil); err != nil {
		t.Fatal(err)
	}
	if err := seed.Shoppers(ctx, pool, 12, nil); err != nil {
		t.Fatal(err)
	}
	shop, closeShop, err := newPagesShop(ctx, cfg, pool, rdb, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer closeShop()
	var admin int64
	if err := pool.QueryRow(ctx, "SELECT id FROM users WHERE role = 'admin'").Scan(&admin); err != nil {
		t.Fatal(err)
	}
	if err := seed.History(ctx, pool, 1200, admin, nil); err != nil {
		t.Fatal(err)
	}
	o := pagesOptions{seed: 7, each: 2, inflight: 2, warmup: 5, shoppers: 4}
	plan, err := drawPages(ctx, pool, shop, rand.New(rand.NewPCG(o.seed, 1)), o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := runPages(ctx, shop, plan, o)
	faults := append(res.faults, checkPages(ctx, pool, shop, plan)...)
	if len(faults) > 0 || res.count != len(pageKinds)*o.each {
		t.Fatalf("%d timed requests; faults: %v", res.count, faults)
	}

	for _, r := range plan.requests {
		empty := `{"orders":[],"shoppers":[],"entries":[],"id":0,"items":[],"ledger":[]}`
		if f := r.check(ctx, pool, []byte(empty)); f == "" {
			t.Errorf("%s %s: an empty answer passed the check", r.kind, r.path)
		}
		if f := htmlFault(r, 500, []byte("oops"), nil); !strings.Contains(f, "status 500") {
			t.Errorf("%s: a 500 was not a fault: %q", r.kind, f)
		}
		if f := htmlFault(r, 200, []byte("<h1>Something else</h1>"), nil); f == "" {
			t.Errorf("%s: a page without %q passed", r.kind, r.marker)
		}
	}
}
