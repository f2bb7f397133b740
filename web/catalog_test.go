package web

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"market/internal/catalog"
	"market/views"
)

func TestSearchAnswersJSONPerContractAndNeverFails(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	for i, name := range []string{"Wireless Headphones One", "Wireless Headphones Two", "<script>alert(1)</script> Lamp"} {
		r := admin.json().post("/admin/products", url.Values{"sku": {"SKU-" + string(rune('A'+i))}, "name": {name}, "brand": {"Sonora"},
			"category": {"Audio"}, "description": {"Good sound."}, "price": {"12900"}, "stock": {"3"}})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	shopper := h.client()
	r := shopper.json().get("/products?q=head&category=audio&in_stock=1&sort=price_asc")
	var got struct {
		Items []struct {
			ID       int64  `json:"id"`
			Name     string `json:"name"`
			Category string `json:"category"`
			Price    int64  `json:"price"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
		Total      any     `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if len(got.Items) != 2 || got.Total != float64(2) || got.NextCursor == nil || *got.NextCursor != "" || got.Items[0].Category != "audio" {
		t.Fatalf("unexpected answer %s", r.body)
	}
	if r := shopper.get("/products?q=script"); r.status != 200 || strings.Contains(r.body, "<script>alert") {
		t.Fatalf("script text not escaped: %d", r.status)
	}
	for _, q := range []string{"min_price=abc", "min_price=-5", "min_price=9&max_price=1", "sort=nope", "after=garbage", "in_stock=maybe",
		"q=" + strings.Repeat("x", 10_000), "q=%27%3B+DROP+TABLE+products%3B--", "category=nope"} {
		r := shopper.json().get("/products?" + q)
		if r.status >= 500 || (r.status != 200 && r.status != 422) {
			t.Errorf("%s: status %d %s", q, r.status, r.body)
		}
	}
	if n := h.count("SELECT count(*) FROM products"); n != 3 {
		t.Fatalf("products: %d", n)
	}
}

// A cancelled order returns its units past the cap an admin's delivery
// stops at (the units exist); the stock can then still be lowered, and only
// raised once it is back under the cap.
func TestStockAboveTheCapFromACancelCanBeLowered(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	p := h.product("Pallet of pens", 1_000, catalog.MaxStock)
	buyer := h.shopper("cap@example.com", 100_000).json()
	buyer.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}})
	r := buyer.post("/checkout", url.Values{"idempotency_key": {"cap"}})
	if r.status != http.StatusCreated {
		t.Fatalf("checkout: %d %s", r.status, r.body)
	}
	path := fmt.Sprintf("/admin/products/%d/stock", p)
	if r := admin.post(path, url.Values{"delta": {"2"}, "reason": {"delivery"}}); r.status != 200 {
		t.Fatalf("delivery back to the cap: %d %s", r.status, r.body)
	}
	if r := buyer.post(fmt.Sprintf("/orders/%v/cancel", decode(t, r)["id"]), nil); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT stock FROM product_stock WHERE product_id = $1", p); n != catalog.MaxStock+2 {
		t.Fatalf("stock after the cancel: %d", n)
	}
	if r := admin.post(path, url.Values{"delta": {"1"}, "reason": {"found one"}}); r.status != http.StatusConflict || !strings.Contains(r.body, "above") {
		t.Fatalf("a rise above the cap: %d %s", r.status, r.body)
	}
	if r := admin.post(path, url.Values{"delta": {"-1"}, "reason": {"damaged"}}); r.status != 200 {
		t.Fatalf("a fall that stays above the cap: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT stock - opening_stock - (SELECT sum(delta) FROM stock_ledger WHERE product_id = $1) FROM product_stock WHERE product_id = $1", p); n != 0 {
		t.Fatalf("ledger off by %d", n)
	}
}

func TestAdminProductRulesLeaveNothingChangedOnBadInput(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	good := url.Values{"sku": {"KB-1"}, "name": {"Keyboard"}, "brand": {"Kestrel"}, "category": {"computers"}, "price": {"50000"}, "stock": {"5"}}
	if r := admin.json().post("/admin/products", good); r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	with := func(k, v string) url.Values {
		c := url.Values{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c.Set(k, v)
		return c
	}
	for name, form := range map[string]url.Values{
		"duplicate sku": good, "negative price": with("price", "-1"), "negative stock": with("stock", "-2"),
		"empty name": with("name", " "), "absurd name": with("name", strings.Repeat("n", 201)), "price not a number": with("price", "abc"),
	} {
		if r := admin.json().post("/admin/products", form); r.status < 400 || r.status >= 500 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// An empty form names every field it needs at once, those that parse
	// (the words) and those that do not (the numbers).
	empty := h.client()
	empty.login(adminEmail, adminPassword)
	if r := empty.post("/admin/products", url.Values{"category": {"computers"}}); r.status != 422 {
		t.Fatalf("empty product form: %d", r.status)
	} else {
		for _, field := range []string{"sku", "name", "brand", "price", "stock"} {
			if !strings.Contains(r.body, `id="e-`+field+`"`) {
				t.Errorf("the empty form says nothing under %s", field)
			}
		}
	}
	// A SKU names one product however it is typed.
	if r := admin.json().post("/admin/products", with("sku", "kb-1")); r.status != http.StatusConflict || !strings.Contains(r.body, "already used") {
		t.Errorf("the same SKU in small letters: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT count(*) FROM products"); n != 1 {
		t.Fatalf("products: %d", n)
	}
	id := h.count("SELECT id FROM products")
	path := "/admin/products/" + strconv.FormatInt(id, 10) + "/stock"
	if r := admin.json().post(path, url.Values{"delta": {"-6"}, "reason": {"broken"}}); r.status != http.StatusConflict {
		t.Fatalf("below zero: %d %s", r.status, r.body)
	}
	// Stock 5 takes a delivery to 999,999,995, and not a second one past
	// the most a product may hold (1,000,000,000, as when it is created).
	for i, want := range []int{200, http.StatusConflict} {
		if r := admin.json().post(path, url.Values{"delta": {"999999990"}, "reason": {"pallet"}}); r.status != want {
			t.Fatalf("delivery %d: %d %s", i+1, r.status, r.body)
		}
	}
	if r := admin.json().post(path, url.Values{"delta": {"-999999990"}, "reason": {"miscounted"}}); r.status != 200 {
		t.Fatalf("take back: %d %s", r.status, r.body)
	}
	if r := admin.json().post(path, url.Values{"delta": {"-2"}, "reason": {"damaged in storage"}}); r.status != 200 {
		t.Fatalf("adjust: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT stock - opening_stock - (SELECT coalesce(sum(delta),0) FROM stock_ledger) FROM product_stock"); n != 0 {
		t.Fatalf("ledger off by %d", n)
	}
	if n := h.count("SELECT stock FROM product_stock"); n != 3 {
		t.Fatalf("stock %d", n)
	}
	// The product's admin page shows the change in its stock ledger, and who made it.
	if r := admin.get("/admin/products/" + strconv.FormatInt(id, 10)); !strings.Contains(r.body, "damaged in storage") || !strings.Contains(r.body, "−2") && !strings.Contains(r.body, "-2") || !strings.Contains(r.body, adminEmail) {
		t.Fatalf("the stock ledger is not on the product's page: %d", r.status)
	}
	if r := h.client().json().get("/admin/products"); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous admin list: %d", r.status)
	}
	if r := h.client().get("/products/" + strconv.FormatInt(id, 10)); r.status != 200 || !strings.Contains(r.body, "Add to cart") || !strings.Contains(r.body, "Only 3 left") {
		t.Fatalf("product page: %d", r.status)
	}
	// Nor can another product be renamed to it in other letters.
	if r := admin.json().post("/admin/products", with("sku", "KB-2")); r.status != http.StatusCreated {
		t.Fatalf("second product: %d %s", r.status, r.body)
	}
	other := h.count("SELECT id FROM products WHERE sku = 'KB-2'")
	if r := admin.json().post("/admin/products/"+strconv.FormatInt(other, 10), with("sku", "Kb-1")); r.status != http.StatusConflict {
		t.Fatalf("renamed to the same SKU in other letters: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT count(*) FROM products WHERE sku = 'KB-2'"); n != 1 {
		t.Fatal("the refused rename changed the product")
	}
	// The admin's list shows each product's SKU. A keyword that is a SKU, in
	// any case, links its product above the keyword's matches, which stay.
	if r := admin.get("/admin/products"); !strings.Contains(r.body, ">KB-1</td>") || !strings.Contains(r.body, ">KB-2</td>") {
		t.Fatalf("the list does not show the SKUs: %d", r.status)
	}
	for _, sku := range []string{"Lamp", "L-2"} {
		if r := admin.json().post("/admin/products", with("sku", sku)); r.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", sku, r.status, r.body)
		}
	}
	if r := admin.json().post("/admin/products/"+strconv.FormatInt(h.count("SELECT id FROM products WHERE sku = 'L-2'"), 10),
		url.Values{"sku": {"L-2"}, "name": {"Floor Lamp"}, "brand": {"Kestrel"}, "category": {"computers"}, "price": {"50000"}}); r.status != 200 {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	lamp := h.count("SELECT id FROM products WHERE sku = 'Lamp'")
	r := admin.get("/admin/products?q=lamp")
	if !strings.Contains(r.body, `data-testid="sku-match"`) || !strings.Contains(r.body, `href="/admin/products/`+strconv.FormatInt(lamp, 10)+`"`) ||
		!strings.Contains(r.body, "Floor Lamp") {
		t.Fatalf("q=lamp: %d, SKU link or the keyword's match missing", r.status)
	}
	if r := admin.get("/admin/products?q=keyboard"); strings.Contains(r.body, `data-testid="sku-match"`) {
		t.Fatal("a keyword that is no SKU linked one")
	}
	for q, want := range map[string]int{"kb-": 200, "%00": 422, "KB-1%00": 422, strings.Repeat("k", 65): 200} {
		if r := admin.get("/admin/products?q=" + q); r.status != want {
			t.Errorf("q=%q: %d, want %d", q, r.status, want)
		}
	}
}

// pagerLink is the href of the pager's link with the given rel, or "".
func pagerLink(body, rel string) string {
	m := regexp.MustCompile(`<a href="([^"]*)"[^>]*rel="` + rel + `"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// productIDs are the product links of a results page, in order.
func productIDs(body string) []string {
	var ids []string
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`href="/products/(\d+)"`).FindAllStringSubmatch(body, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			ids = append(ids, m[1])
		}
	}
	return ids
}

func TestSearchPagesBackAndForthByKeysetTrail(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	for i := range 45 {
		r := admin.json().post("/admin/products", url.Values{"sku": {"PG-" + strconv.Itoa(i)}, "name": {"Pager Lamp " + strconv.Itoa(i)}, "brand": {"Lumen"},
			"category": {"Lamps"}, "description": {"A lamp."}, "price": {strconv.Itoa(1000 + i*100)}, "stock": {"3"}})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	shopper := h.client()
	first := shopper.get("/products?category=lamps&sort=price_asc")
	if first.status != 200 || pagerLink(first.body, "prev") != "" || !strings.Contains(first.body, ">45 products<") {
		t.Fatalf("first page: %d, prev %q", first.status, pagerLink(first.body, "prev"))
	}
	pages := [][]string{productIDs(first.body)}
	body := first.body
	for page := 2; page <= 3; page++ {
		next := pagerLink(body, "next")
		if strings.Contains(next, "offset") || !strings.Contains(next, "after=") {
			t.Fatalf("page %d link is not keyset: %q", page, next)
		}
		r := shopper.get(next)
		if r.status != 200 || !strings.Contains(r.body, "45 products, page "+strconv.Itoa(page)) {
			t.Fatalf("page %d: %d", page, r.status)
		}
		pages, body = append(pages, productIDs(r.body)), r.body
	}
	if len(pages[0]) != 20 || len(pages[1]) != 20 || len(pages[2]) != 5 || pagerLink(body, "next") != "" {
		t.Fatalf("page sizes %d %d %d", len(pages[0]), len(pages[1]), len(pages[2]))
	}
	// Previous from page 3 is page 2, and from there page 1, each with its own
	// Previous link, never an offset.
	for want := 1; want >= 0; want-- {
		prev := pagerLink(body, "prev")
		r := shopper.get(prev)
		if r.status != 200 || !slices.Equal(productIDs(r.body), pages[want]) {
			t.Fatalf("previous to page %d (%s): %d %v, want %v", want+1, prev, r.status, productIDs(r.body), pages[want])
		}
		body = r.body
	}
	if pagerLink(body, "prev") != "" {
		t.Fatal("the first page offers a previous page")
	}
	// A damaged trail is a clear 422, not a 500 or a wrong page.
	next := pagerLink(first.body, "next")
	for _, bad := range []string{"&trail=garbage", "&trail=" + strings.Repeat("a.", 60) + "a"} {
		if r := shopper.get(next + bad); r.status != http.StatusUnprocessableEntity {
			t.Errorf("trail %.20q: %d", bad, r.status)
		}
	}
	// So is a trail on the first page, which has no pages before it.
	if r := shopper.get("/products?q=lamp&trail=garbage"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("a trail without after: %d", r.status)
	}
	// The count is the one live region; the list is not live.
	if strings.Count(first.body, `role="status"`) < 1 || strings.Contains(first.body, `id="results" aria-live`) {
		t.Fatal("the results list is live, or the count is not")
	}
}

func TestAdminProductFormChoosesCategoriesAndCreatesOneOnlyOnPurpose(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	// One category to choose from, made through the JSON contract (a new name creates it).
	if r := admin.json().post("/admin/products", url.Values{"sku": {"CAT-0"}, "name": {"Lamp"}, "brand": {"Lumen"}, "category": {"Lamps"},
		"price": {"1000"}, "stock": {"1"}}); r.status != http.StatusCreated {
		t.Fatalf("json create: %d %s", r.status, r.body)
	}
	page := admin.get("/admin/products")
	if !strings.Contains(page.body, `<select id="f-category" name="category" required>`) || !strings.Contains(page.body, `<option value="lamps">Lamps</option>`) ||
		!strings.Contains(page.body, `<option value="+new">New category…</option>`) {
		t.Fatal("the new-product form has no list of categories with a separate new choice")
	}
	cats := func() int64 { return h.count("SELECT count(*) FROM categories") }
	before, products := cats(), h.count("SELECT count(*) FROM products")
	product := func(sku string, over map[string]string) url.Values {
		v := url.Values{"sku": {sku}, "name": {"Thing " + sku}, "brand": {"Lumen"}, "price": {"1000"}, "stock": {"1"}}
		for k, x := range over {
			v.Set(k, x)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		over map[string]string
		says string
	}{
		{"a typo", map[string]string{"category": "Lamsp"}, "Choose a category from the list"},
		{"new without a name", map[string]string{"category": "+new", "new_category": " "}, "Name the new category."},
		{"nothing chosen", map[string]string{"category": ""}, "field-error"},
	} {
		r := admin.post("/admin/products", product("BAD", tc.over))
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, tc.says) {
			t.Errorf("%s: %d, want 422 saying %q", tc.name, r.status, tc.says)
		}
	}
	if cats() != before || h.count("SELECT count(*) FROM products") != products {
		t.Fatal("a refused form created a category or a product")
	}
	// Chosen from the list, by slug; or a new one, on purpose.
	if r := admin.post("/admin/products", product("OK-1", map[string]string{"category": "lamps"})); r.status != http.StatusSeeOther {
		t.Fatalf("existing category: %d %s", r.status, r.body)
	}
	if cats() != before {
		t.Fatal("choosing an existing category created one")
	}
	r := admin.post("/admin/products", product("OK-2", map[string]string{"category": "+new", "new_category": "Garden Tools"}))
	if r.status != http.StatusSeeOther || cats() != before+1 || h.count("SELECT count(*) FROM categories WHERE slug = 'garden-tools'") != 1 {
		t.Fatalf("new category: %d, categories %d", r.status, cats())
	}
	// A "new" name that reads as an existing one ("Garden tools!" is
	// garden-tools) is that one, not a second Garden Tools.
	if r := admin.post("/admin/products", product("OK-3", map[string]string{"category": "+new", "new_category": "Garden tools!"})); r.status != http.StatusSeeOther ||
		cats() != before+1 || h.count("SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id WHERE p.sku = 'OK-3' AND c.slug = 'garden-tools'") != 1 {
		t.Fatalf("a new name that is an existing category: %d, categories %d", r.status, cats())
	}
	// The edit form: the product's category is selected; a typo changes nothing.
	edit := admin.get(r.header.Get("Location"))
	if !strings.Contains(edit.body, `<option value="garden-tools" selected>Garden Tools</option>`) {
		t.Fatal("the edit form does not select the product's category")
	}
	r = admin.post(r.header.Get("Location"), product("OK-2", map[string]string{"category": "Gardn Tools"}))
	if r.status != http.StatusUnprocessableEntity || cats() != before+1 {
		t.Fatalf("edit with a typo: %d, categories %d", r.status, cats())
	}
}

func TestPageLinksKeepAtMostFiftyCursorsBack(t *testing.T) {
	trail := make([]string, maxTrail)
	for i := range trail {
		trail[i] = "c" + strconv.Itoa(i)
	}
	sp := searchParams{raw: url.Values{"q": {"lamp"}, "after": {"cur"}}, trail: trail}
	sp.filter.After = "cur"
	v := views.SearchView{Sort: "relevance"}
	pageLinks(&v, "/products", sp, "nxt")
	if v.Page != maxTrail+2 {
		t.Fatalf("page %d, want %d", v.Page, maxTrail+2)
	}
	next, _ := url.Parse(v.NextURL)
	got := strings.Split(next.Query().Get("trail"), trailSep)
	if next.Query().Get("after") != "nxt" || len(got) != maxTrail || got[0] != "~c1" || got[maxTrail-1] != "cur" {
		t.Fatalf("next link %s", v.NextURL)
	}
	// From a page whose trail was cut, the page number is unknown and
	// Previous still steps back one page.
	sp2 := searchParams{raw: next.Query(), trail: append([]string{"c1"}, got[1:]...), trailCut: true}
	sp2.filter.After = "nxt"
	v2 := views.SearchView{Sort: "relevance"}
	pageLinks(&v2, "/products", sp2, "")
	prev, _ := url.Parse(v2.PrevURL)
	if v2.Page != 0 || v2.NextURL != "" || prev.Query().Get("after") != "cur" || !strings.HasPrefix(prev.Query().Get("trail"), "~c1.") ||
		prev.Query().Get("q") != "lamp" || prev.Query().Get("sort") != "relevance" {
		t.Fatalf("page %d, previous %s", v2.Page, v2.PrevURL)
	}
}

// TestACrowdCreatingOneSKUInManyCasesMakesOneProduct: two admins' worth of
// requests at once, each a different casing of one SKU: one is created, the
// rest are told the SKU is taken, and no other row appears.
func TestACrowdCreatingOneSKUInManyCasesMakesOneProduct(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	skus := []string{"crowd-1", "CROWD-1", "Crowd-1", "cROWD-1", "CrOwD-1", "crowD-1"}
	replies := atOnce(24, func(i int) reply {
		return admin.json().post("/admin/products", url.Values{"sku": {skus[i%len(skus)]}, "name": {"Crowd Lamp"}, "brand": {"Lumen"},
			"category": {"computers"}, "price": {"1000"}, "stock": {"1"}})
	})
	created := 0
	for _, r := range replies {
		switch r.status {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			if !strings.Contains(r.body, "already used") {
				t.Errorf("409 without the reason: %s", r.body)
			}
		default:
			t.Errorf("%d %s", r.status, r.body)
		}
	}
	if n := h.count("SELECT count(*) FROM products WHERE lower(sku) = 'crowd-1'"); created != 1 || n != 1 {
		t.Fatalf("%d created, %d rows; want 1 and 1", created, n)
	}
}
