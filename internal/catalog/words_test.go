package catalog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/errs"
	"market/internal/replica"
	"market/internal/testenv"
)

// A small pool, so that most writers hit the same search_words rows; some
// stems collide (lamp/lamps, light/lighting) and "the" is a stop word.
var wordPool = strings.Fields("lamp lamps light lighting desk steel brass wireless cable charger blue the")

func words(r *rand.Rand, lo, hi int) string {
	w := make([]string, lo+r.IntN(hi-lo+1))
	for i := range w {
		w[i] = wordPool[r.IntN(len(wordPool))]
	}
	return strings.Join(w, " ")
}

// shelf holds the live products (id → SKU) that any writer may edit. A
// product leaves it before its DELETE, so "not found" on one still here is a bug.
type shelf struct {
	mu  sync.Mutex
	sku map[int64]string
}

func (s *shelf) set(id int64, sku string) { s.mu.Lock(); defer s.mu.Unlock(); s.sku[id] = sku }
func (s *shelf) remove(id int64)          { s.mu.Lock(); defer s.mu.Unlock(); delete(s.sku, id) }
func (s *shelf) has(id int64) bool        { s.mu.Lock(); defer s.mu.Unlock(); return s.sku[id] != "" }

// pick is uniform over the live products (at most a few hundred).
func (s *shelf) pick(r *rand.Rand) (int64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := r.IntN(len(s.sku))
	for id, sku := range s.sku {
		if n--; n < 0 {
			return id, sku
		}
	}
	panic("unreachable")
}

func TestSearchWordsStayExactUnderConcurrentWrites(t *testing.T) {
	seed := time.Now().UnixNano()
	if v := os.Getenv("WORDS_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("WORDS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay the choices with WORDS_SEED=%d)", seed, seed)
	const writers, opsEach = 200, 12
	pool := testenv.DB(t)
	// A deadline, so that a lock-wait pile-up fails with the operations it held up.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s := NewService(replica.PrimaryOnly(pool))
	// Made here so that no writer races to create the category (a Conflict by design).
	first, err := s.Create(ctx, ProductInput{SKU: "W-0", Name: "lamp", Brand: "blue", Category: "Words", Description: "the lamp", Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	sh := &shelf{sku: map[int64]string{first.ID: first.SKU}}

	failed := make(chan string, writers*opsEach)
	start, began := make(chan struct{}), time.Now()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(seed), uint64(g)))
			var own []int64 // only the creator deletes or adjusts a product: no other writer deletes it under them
			fail := func(op string, err error) { failed <- fmt.Sprintf("writer %d: %s: %v", g, op, err) }
			<-start
			for i := range opsEach {
				switch k := r.IntN(10); {
				case k < 3 || len(own) == 0:
					sku := fmt.Sprintf("W%d-%d", g, i)
					p, err := s.Create(ctx, ProductInput{SKU: sku, Name: words(r, 1, 4), Brand: words(r, 1, 2), Category: "Words",
						Description: words(r, 0, 6), Price: 1 + r.Int64N(100), Stock: r.Int64N(3)})
					if err != nil {
						fail("create", err)
						continue
					}
					own = append(own, p.ID)
					sh.set(p.ID, sku)
				case k < 7: // any writer's product: same text, shared words, new text, or only the price
					id, sku := sh.pick(r)
					p, err := s.Product(ctx, id)
					if err == nil {
						in := ProductInput{SKU: sku, Name: p.Name, Brand: p.Brand, Category: "Words", Description: p.Description, Price: p.Price}
						switch r.IntN(4) {
						case 0:
							in.Price = 1 + r.Int64N(100)
						case 1:
							w := strings.Fields(in.Name)
							w[r.IntN(len(w))] = wordPool[r.IntN(len(wordPool))]
							in.Name, in.Description = strings.Join(w, " "), in.Description+" "+words(r, 1, 2)
						case 2:
							in.Name, in.Brand, in.Description = words(r, 1, 4), words(r, 1, 2), words(r, 0, 6)
						}
						_, err = s.Update(ctx, id, in)
					}
					if err != nil && !(errs.Is(err, errs.NotFound) && !sh.has(id)) {
						fail(fmt.Sprintf("update %d", id), err)
					}
				case k < 8: // stock only: the products row's text is untouched
					id := own[r.IntN(len(own))]
					p, err := s.Product(ctx, id)
					if err == nil {
						delta := 1 + r.Int64N(3)
						if p.Stock > 0 && r.IntN(2) == 0 {
							delta = -p.Stock // crosses zero: the in_stock trigger writes products
						}
						_, err = s.Adjust(ctx, id, Adjustment{Delta: delta, Reason: "words test"})
					}
					if err != nil {
						fail(fmt.Sprintf("adjust %d", id), err)
					}
				default:
					j := r.IntN(len(own))
					id := own[j]
					own = append(own[:j], own[j+1:]...)
					sh.remove(id)
					if tag, err := pool.Exec(ctx, "DELETE FROM products WHERE id = $1", id); err != nil || tag.RowsAffected() != 1 {
						fail(fmt.Sprintf("delete %d (%d rows)", id, tag.RowsAffected()), err)
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("%d writers × %d operations in %v", writers, opsEach, time.Since(began).Round(time.Millisecond))
	if n := len(failed); n > 0 {
		close(failed)
		var first []string
		for f := range failed {
			first = append(first, f)
		}
		t.Errorf("%d of %d operations failed, first:\n  %s", n, writers*opsEach, strings.Join(first[:min(5, n)], "\n  "))
	}
	checkWords(t, pool)
}

// checkWords compares search_words with a full recount of products.search:
// a lexeme no product holds may keep its row, at 0/0.
func checkWords(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var n int
	var diffs []string
	err := pool.QueryRow(t.Context(), `
		WITH r AS (SELECT u.lexeme COLLATE "C" AS lexeme, count(*) AS products, count(*) FILTER (WHERE u.weights && '{A,B}') AS titles
		           FROM products p, unnest(p.search) u GROUP BY 1),
		d AS (SELECT format('%L: search_words %s/%s, recount %s/%s', coalesce(w.lexeme, r.lexeme), coalesce(w.products::text, 'no row'),
		                    w.titles, coalesce(r.products, 0), coalesce(r.titles, 0)) AS diff
		      FROM search_words w FULL JOIN r ON r.lexeme = w.lexeme
		      WHERE w.lexeme IS NULL OR (w.products, w.titles) IS DISTINCT FROM (coalesce(r.products, 0), coalesce(r.titles, 0)))
		SELECT count(*), coalesce((array_agg(diff ORDER BY diff))[:8], '{}') FROM d`).Scan(&n, &diffs)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("search_words (products/titles) differs from a recount in %d lexemes, first:\n  %s", n, strings.Join(diffs, "\n  "))
	}
}

// TestSearchWordsFollowOneProduct: insert, an edit that moves "brass" from
// the description into the name, and the delete, beside a product that keeps
// "lamp" in its description (so counts fall to it, not to zero).
func TestSearchWordsFollowOneProduct(t *testing.T) {
	pool := testenv.DB(t)
	s, ctx := NewService(replica.PrimaryOnly(pool)), t.Context()
	stem := map[string]string{}
	for _, w := range []string{"brass", "lamps", "dimmer"} {
		var l []string
		if err := pool.QueryRow(ctx, "SELECT array_agg(lexeme) FROM unnest(to_tsvector('english', $1))", w).Scan(&l); err != nil || len(l) != 1 {
			t.Fatalf("stem of %q: %v %v", w, l, err)
		}
		stem[w] = l[0]
	}
	expect := func(step string, want map[string][2]int64) {
		t.Helper()
		for w, c := range want {
			var got [2]int64
			if err := pool.QueryRow(ctx, "SELECT coalesce(sum(products), 0), coalesce(sum(titles), 0) FROM search_words WHERE lexeme = $1",
				stem[w]).Scan(&got[0], &got[1]); err != nil {
				t.Fatal(err)
			}
			if got != c {
				t.Errorf("%s: %q (%q) products/titles = %v, want %v", step, w, stem[w], got, c)
			}
		}
	}
	if _, err := s.Create(ctx, ProductInput{SKU: "OTHER", Name: "Oak Desk", Brand: "Woodwork", Category: "Home",
		Description: "Fits any lamp.", Price: 100}); err != nil {
		t.Fatal(err)
	}
	in := ProductInput{SKU: "LAMP", Name: "Reading Lamp", Brand: "Lumo", Category: "Home", Description: "Brass stand with a dimmer.", Price: 100}
	p, err := s.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	expect("insert", map[string][2]int64{"brass": {1, 0}, "lamps": {2, 1}, "dimmer": {1, 0}})
	in.Name, in.Description = "Brass Reading Lamp", "A stand with a dimmer."
	if _, err := s.Update(ctx, p.ID, in); err != nil {
		t.Fatalf("edit: %v", err)
	}
	expect("edit", map[string][2]int64{"brass": {1, 1}, "lamps": {2, 1}, "dimmer": {1, 0}})
	if _, err := pool.Exec(ctx, "DELETE FROM products WHERE id = $1", p.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	expect("delete", map[string][2]int64{"brass": {0, 0}, "lamps": {1, 0}, "dimmer": {0, 0}})
	checkWords(t, pool)
}
