package bench

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"market/internal/config"
	"market/internal/replica"
	"market/internal/search"
	"market/internal/seed"
	"market/internal/testenv"
)

// TestTheSearchBenchRefusesEveryKindOfWrongAnswer runs the bench's query
// mix against the shop and the naive baseline on a small catalogue (every
// answer right), then spoils one answer at a time the way a fast wrong
// search could, and each must be refused with its reason.
func TestTheSearchBenchRefusesEveryKindOfWrongAnswer(t *testing.T) {
	ctx := t.Context()
	pool := testenv.DB(t)
	if err := seed.Products(ctx, pool, 3000, nil); err != nil {
		t.Fatal(err)
	}
	cat, err := loadCatalogue(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	voc, err := buildVocabulary(ctx, pool, cat)
	if err != nil {
		t.Fatal(err)
	}
	if len(voc.common) == 0 {
		t.Fatal("no common words in a seeded catalogue")
	}
	cfg, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	shop, closeShop := shopSearch(cfg, replica.PrimaryOnly(pool), testenv.Redis(t), 2)
	t.Cleanup(closeShop)
	streams := []*queryStream{voc.newStream(7, "test", 0, searchClasses), voc.newStream(7, "test", 1, searchClasses)}
	run, err := runSearches(ctx, "test", shop, streams, 400, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ch := &checker{cat: cat, stems: voc.stems, pageSize: search.PageSize}
	if wrong := ch.check(run.walks, false); len(wrong) > 0 {
		t.Fatalf("the shop answered %d queries wrong, first: %s", len(wrong), wrong[0])
	}
	if err := ensureNaiveCopy(ctx, pool); err != nil {
		t.Fatal(err)
	}
	naive, err := runSearches(ctx, "naive", naiveSearch{pool: pool, pageSize: search.PageSize}, streams, 100, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.descriptions, err = naiveDescriptions(ctx, pool, naive.walks); err != nil {
		t.Fatal(err)
	}
	if wrong := ch.check(naive.walks, true); len(wrong) > 0 {
		t.Fatalf("the naive baseline answered %d queries wrong, first: %s", len(wrong), wrong[0])
	}

	item := func(i uint32) searchItem {
		return searchItem{ID: cat.ids[i], Name: cat.name(i), Brand: cat.brands[cat.brand[i]], Category: cat.categories[cat.category[i]],
			Price: cat.price[i], Stock: cat.stock[i]}
	}
	// another finds a product that is not on the walk's pages and passes keep.
	another := func(w searchWalk, keep func(i uint32) bool) (searchItem, bool) {
		for i := range uint32(cat.size()) {
			onPage := slices.ContainsFunc(w.pages, func(p searchPage) bool {
				return slices.ContainsFunc(p.items, func(it searchItem) bool { return it.ID == cat.ids[i] })
			})
			if !onPage && keep(i) {
				return item(i), true
			}
		}
		return searchItem{}, false
	}
	idx := func(it searchItem) uint32 { i, _ := cat.index(it.ID); return i }
	matchesAll := func(w searchWalk, i uint32) bool {
		s := ch.resolve(w.query, false, 0)
		return s.filters(i) && (s.match == nil || s.match(i))
	}
	for _, tc := range []struct {
		name  string
		want  string
		spoil func(w *searchWalk) bool // false: this walk cannot show the fault
	}{
		{"a match skipped", "a match was skipped", func(w *searchWalk) bool {
			p := &w.pages[0]
			if len(p.items) < 2 {
				return false
			}
			p.items = p.items[1:]
			return true
		}},
		{"two items swapped", "against the order", func(w *searchWalk) bool {
			p := &w.pages[0]
			if len(p.items) < 2 || w.query.effectiveSort(w.query.q != "") != string(search.SortPriceAsc) || p.items[0].Price == p.items[1].Price {
				return false
			}
			p.items[0], p.items[1] = p.items[1], p.items[0]
			return true
		}},
		{"an item repeated on the next page", "answered twice", func(w *searchWalk) bool {
			if len(w.pages) < 2 || len(w.pages[1].items) == 0 {
				return false
			}
			w.pages[1].items[0] = w.pages[0].items[len(w.pages[0].items)-1]
			return true
		}},
		{"an item of another brand", "of brand", func(w *searchWalk) bool {
			if w.query.brand == "" || w.query.q != "" || w.query.category != "" || len(w.pages[0].items) == 0 {
				return false
			}
			it, ok := another(*w, func(i uint32) bool { return cat.brands[cat.brand[i]] != w.query.brand })
			w.pages[0].items[0] = it
			return ok
		}},
		{"an item outside the price range", "outside the price range", func(w *searchWalk) bool {
			if w.query.minPrice < 0 || w.query.q != "" || len(w.pages[0].items) == 0 {
				return false
			}
			first := idx(w.pages[0].items[0])
			it, ok := another(*w, func(i uint32) bool {
				return cat.category[i] == cat.category[first] && cat.price[i] > w.query.maxPrice
			})
			w.pages[0].items[0] = it
			return ok
		}},
		{"an item out of stock under in_stock", "out of stock", func(w *searchWalk) bool {
			if !w.query.inStock || w.query.q != "" || w.query.minPrice >= 0 || len(w.pages[0].items) == 0 {
				return false
			}
			first := idx(w.pages[0].items[0])
			it, ok := another(*w, func(i uint32) bool {
				return cat.brand[i] == cat.brand[first] && cat.category[i] == cat.category[first] && cat.stock[i] == 0
			})
			w.pages[0].items[0] = it
			return ok
		}},
		{"an item without the words", "does not hold the words", func(w *searchWalk) bool {
			if w.query.q == "" || w.query.category != "" || w.query.brand != "" || w.query.minPrice >= 0 || w.query.inStock || len(w.pages[0].items) == 0 {
				return false
			}
			s := ch.resolve(w.query, false, 0)
			it, ok := another(*w, func(i uint32) bool { return !s.match(i) })
			w.pages[0].items[0] = it
			return ok
		}},
		{"an item whose fields are not the product's", "the answer's price", func(w *searchWalk) bool {
			if len(w.pages[0].items) == 0 {
				return false
			}
			w.pages[0].items[0].Price++
			return true
		}},
		{"an exact total one too many", "products match", func(w *searchWalk) bool {
			n, err := strconv.Atoi(w.pages[0].total)
			if err != nil || n == 0 {
				return false
			}
			w.pages[0].total = strconv.Itoa(n + 1)
			return true
		}},
		{"a capped total of fewer matches", "only", func(w *searchWalk) bool {
			n, err := strconv.Atoi(w.pages[0].total)
			if err != nil || n == 0 || n >= 1000 || len(w.pages) > 1 || w.pages[0].next != "" {
				return false
			}
			w.pages[0].total = "1000+"
			return true
		}},
		{"a cap below 1,000", "N ≥ 1000", func(w *searchWalk) bool {
			w.pages[0].total = "500+"
			return true
		}},
		{"no next_cursor while more match", "more products match", func(w *searchWalk) bool {
			if len(w.pages) < 2 {
				return false
			}
			w.pages = w.pages[:1]
			w.pages[0].next = ""
			return true
		}},
		{"a next_cursor on the last page", "next_cursor is set on the last page", func(w *searchWalk) bool {
			last := &w.pages[len(w.pages)-1]
			if last.next != "" || len(last.items) == 0 {
				return false
			}
			last.next = "x"
			return true
		}},
		{"a full page that leaves a match out", "a match was skipped", func(w *searchWalk) bool {
			p := &w.pages[0]
			if p.next == "" {
				return false
			}
			s := ch.resolve(w.query, false, 0)
			last := idx(p.items[len(p.items)-1])
			// The page's last item replaced by a match from further down the order.
			it, ok := another(*w, func(i uint32) bool { return matchesAll(*w, i) && ch.compare(s, last, i) < 0 })
			p.items[len(p.items)-1] = it
			return ok
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range run.walks {
				spoilt := searchWalk{phase: w.phase, query: w.query}
				for _, p := range w.pages {
					p.items = slices.Clone(p.items)
					spoilt.pages = append(spoilt.pages, p)
				}
				if !tc.spoil(&spoilt) {
					continue
				}
				wrong := ch.check([]searchWalk{spoilt}, false)
				if len(wrong) != 1 || !strings.Contains(wrong[0].what, tc.want) {
					t.Fatalf("spoilt %s: refused %v, want one refusal saying %q", w.query, wrong, tc.want)
				}
				return
			}
			t.Fatal("no walk of the mix can show this fault")
		})
	}
}
