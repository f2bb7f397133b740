package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// textField is one place where typed text enters the shop: a route, a form
// (or query) that is valid as it is, and the field the test spoils.
type textField struct {
	who    string // anon, shopper or admin
	method string
	path   string
	base   url.Values
	field  string
	name   bool // a name: format characters are refused as well
	lines  bool // a paragraph: newlines and tabs are allowed
}

// spoilers are what no field may accept, each put inside a valid value.
// Names are also spoiled with format characters, and one-line fields with
// line breaks and tabs.
var spoilers = []struct {
	what, bad string
	names     bool // only for names
	oneLine   bool // only for one-line fields
	whole     bool // the bad text replaces the whole value
}{
	{what: "NUL", bad: "\x00"},
	{what: "invalid UTF-8", bad: "\xff"},
	{what: "a truncated UTF-8 sequence", bad: "\xe2\x82"},
	{what: "a control character", bad: "\x01"},
	{what: "an escape", bad: "\x1b[2J"},
	{what: "a C1 control", bad: "\u0085"},
	{what: "a newline", bad: "\n", oneLine: true},
	{what: "a tab", bad: "\t", oneLine: true},
	{what: "a right-to-left override", bad: "\u202e", names: true},
	{what: "a left-to-right isolate", bad: "\u2066", names: true},
	{what: "a byte order mark", bad: "\ufeff", names: true},
	{what: "only a zero-width space", bad: "\u200b", names: true, whole: true},
}

// spoil puts bad inside v, so that trimming cannot remove it; a value of
// one character is doubled around it.
func spoil(v, bad string, whole bool) string {
	switch {
	case whole || v == "":
		return bad
	case len(v) == 1:
		return v + bad + v
	}
	return v[:1] + bad + v[1:]
}

// textFields is every text and number field of every route that reads one,
// each with a request that is accepted as it is, and the product they use.
func textFields(h *harness) (fields []textField, productID string) {
	h.t.Helper()
	pid := strconv.FormatInt(h.product("Desk lamp", 1000, 50), 10)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	r := admin.post("/admin/campaigns", campaignForm(nil))
	var c struct{ ID int64 }
	if err := json.Unmarshal([]byte(r.body), &c); err != nil || r.status != http.StatusCreated {
		h.t.Fatalf("draft campaign: %d %s", r.status, r.body)
	}
	cid := strconv.FormatInt(c.ID, 10)
	product := url.Values{"sku": {"LAMP-2"}, "name": {"Floor lamp"}, "brand": {"Lumen"}, "category": {"Lighting"},
		"description": {"Tall.\r\nWarm light."}, "price": {"25000"}, "stock": {"4"}}
	search := url.Values{"q": {"lamp"}, "category": {"test"}, "brand": {"Brand"}, "sort": {"price_asc"}, "min_price": {"1"}, "max_price": {"9000"}}

	// add lists fields of one form; "name!name" is a name, "description!lines" a paragraph.
	add := func(who, method, path string, base url.Values, names ...string) {
		for _, f := range names {
			name, lines := false, false
			f, name = strings.CutSuffix(f, "!name")
			f, lines = strings.CutSuffix(f, "!lines")
			fields = append(fields, textField{who: who, method: method, path: path, base: base, field: f, name: name, lines: lines})
		}
	}
	add("anon", "POST", "/signup", url.Values{"email": {"new@example.test"}, "name": {"New Shopper"}, "password": {"password123"}},
		"email!name", "name!name")
	add("anon", "POST", "/login", url.Values{"email": {"shopper@example.test"}, "password": {"password123"}}, "email!name")
	add("anon", "GET", "/products", search, "q", "category", "brand", "sort", "min_price", "max_price")
	add("shopper", "POST", "/cart/items", url.Values{"product_id": {pid}, "quantity": {"2"}}, "product_id", "quantity")
	add("shopper", "POST", "/checkout", url.Values{"idempotency_key": {"key-1"}, "points": {"0"}, "expected_total": {"1000"}}, "idempotency_key", "points", "expected_total")
	add("shopper", "POST", "/account/topup", url.Values{"amount": {"5000"}}, "amount")
	add("admin", "POST", "/admin/campaigns", campaignForm(nil), "name!name", "discount_type", "discount_value", "starts_at", "ends_at")
	add("admin", "POST", "/admin/campaigns/"+cid, campaignForm(map[string]string{"name": "Autumn sale"}), "name!name")
	add("admin", "POST", "/admin/products", product, "sku", "name!name", "brand!name", "category!name", "description!lines", "price")
	add("admin", "POST", "/admin/products/"+pid, product, "name!name", "brand!name", "category!name", "description!lines")
	add("admin", "POST", "/admin/products/"+pid+"/stock", url.Values{"delta": {"3"}, "reason": {"Found a box"}}, "reason", "delta")
	add("admin", "GET", "/admin/products", search, "q", "category", "brand")
	add("admin", "GET", "/admin/orders", url.Values{"email": {"shopper@example.test"}, "status": {"placed"}, "from": {"2025-01-01"},
		"to": {"2030-01-01"}}, "email", "status", "from", "to")
	add("admin", "POST", "/admin/consistency/repair", url.Values{"action": {"redrive_dead_letters"}}, "action")
	return fields, pid
}

// stored is what a refused request must leave alone: every table that typed
// text reaches.
func (h *harness) stored() string {
	h.t.Helper()
	var s string
	err := h.pool.QueryRow(h.t.Context(), `SELECT concat_ws('/',
		(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM (SELECT id, email, name, balance, points FROM users) t),
		(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM (SELECT id, sku, name, brand, category_id, description, price FROM products) t),
		(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM categories t),
		(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM stock_ledger t),
		(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM (SELECT id, name, state, total_quantity, starts_at, ends_at FROM campaigns) t),
		(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM orders t),
		(SELECT count(*) || ':' || coalesce(sum(quantity), 0) FROM cart_items),
		(SELECT count(*) FROM consistency_runs))`).Scan(&s)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func TestEveryTextFieldRefusesNULBadUTF8ControlAndFormatCharacters(t *testing.T) {
	h := newHarness(t)
	fields, pid := textFields(h)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	clients := map[string]*client{"anon": h.client().json(), "shopper": h.shopper("shopper@example.test", 100_000).json(), "admin": admin.json()}
	// The shopper's cart holds a line, so that a checkout with a good key would place an order.
	if r := clients["shopper"].post("/cart/items", url.Values{"product_id": {pid}, "quantity": {"1"}}); r.status != http.StatusOK {
		t.Fatalf("cart: %d %s", r.status, r.body)
	}

	for _, f := range fields {
		for _, sp := range spoilers {
			if (sp.names && !f.name) || (sp.oneLine && f.lines) {
				continue
			}
			t.Run(fmt.Sprintf("%s %s %s with %s", f.method, f.path, f.field, sp.what), func(t *testing.T) {
				v := url.Values{}
				for k, x := range f.base {
					v[k] = x
				}
				v.Set(f.field, spoil(f.base.Get(f.field), sp.bad, sp.whole))
				before := h.stored()
				var r reply
				if f.method == http.MethodGet {
					r = clients[f.who].get(f.path + "?" + v.Encode())
				} else {
					r = clients[f.who].post(f.path, v)
				}
				var e struct{ Error, Code string }
				_ = json.Unmarshal([]byte(r.body), &e)
				if r.status != http.StatusUnprocessableEntity || e.Code != "invalid_input" {
					t.Fatalf("status %d, want 422 invalid_input: %s", r.status, r.body)
				}
				if after := h.stored(); after != before {
					t.Fatalf("a refused request changed what is stored:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// TestTextRefusalsNameTheFieldAndTheCharacter: a refused value is answered
// with a message that says which field and what in it, on the form's page
// and in JSON.
func TestTextRefusalsNameTheFieldAndTheCharacter(t *testing.T) {
	h := newHarness(t)
	anon := h.client()
	r := anon.post("/signup", url.Values{"email": {"ann@example.test"}, "name": {"Ann\u202eLee"}, "password": {"password123"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Your name contains an invisible formatting character (U+202E)") {
		t.Fatalf("signup page: %d, no message naming the name and U+202E", r.status)
	}
	r = anon.json().post("/signup", url.Values{"email": {"ann\xff@example.test"}, "name": {"Ann"}, "password": {"password123"}})
	if e := decode(t, r); r.status != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(e["error"]), "The email address contains bytes that are not valid text") {
		t.Fatalf("signup JSON: %d %s", r.status, r.body)
	}
	r = anon.json().get("/products?brand=%00")
	if e := decode(t, r); r.status != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(e["error"]), "The brand contains a control character (U+0000)") {
		t.Fatalf("search JSON: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT count(*) FROM users WHERE email LIKE 'ann%'"); n != 0 {
		t.Fatalf("%d refused sign-ups were stored", n)
	}
	// What is allowed stays allowed: a description's lines, a name in Hangul.
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	r = admin.post("/admin/products", url.Values{"sku": {"TEA-1"}, "name": {"녹차 Green tea"}, "brand": {"Jeju"}, "category": {"Tea"},
		"description": {"Line one.\r\n\tLine two."}, "price": {"9000"}, "stock": {"1"}})
	if r.status != http.StatusCreated || !strings.Contains(r.body, `"description":"Line one.\n\tLine two."`) {
		t.Fatalf("a description with lines: %d %s", r.status, r.body)
	}
}

// fuzzRoute is a route the fuzz target drives, with its path parameters
// filled in with rows that exist.
type fuzzRoute struct{ method, path string }

// fuzzRoutes is every GET and POST route of the router, except those that
// end the fuzzing clients' sessions and the slow consistency run.
func fuzzRoutes(t testing.TB, s *Server, ids map[string]string) []fuzzRoute {
	param := regexp.MustCompile(`\{([A-Za-z]+)(:[^}]*)?\}`)
	var out []fuzzRoute
	err := chi.Walk(s.routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if (method != http.MethodGet && method != http.MethodPost) || strings.Contains(route, "logout") ||
			strings.HasSuffix(route, "/consistency/run") || strings.HasPrefix(route, "/static") {
			return nil
		}
		path := param.ReplaceAllStringFunc(route, func(p string) string {
			name := param.FindStringSubmatch(p)[1]
			switch {
			case name == "action":
				return "pause" // a draft cannot be paused: the campaign stays a draft
			case name == "id" && strings.Contains(route, "campaigns"):
				return ids["campaign"]
			case name == "id" && strings.Contains(route, "orders"):
				return ids["order"]
			case name == "campaignID":
				return ids["campaign"]
			}
			return ids["product"]
		})
		out = append(out, fuzzRoute{method, path})
		return nil
	})
	if err != nil || len(out) < 20 {
		t.Fatalf("routes: %d (%v)", len(out), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].method+out[i].path < out[j].method+out[j].path })
	return out
}

// queryBytes makes any bytes a valid request-target query: what the URL
// grammar forbids is percent-encoded, everything else (%, &, =, +, a
// malformed escape) reaches the server's parser as it is.
func queryBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0x20 && c < 0x7f && c != '#' && c != '"' && c != '<' && c != '>' && c != '\\' && c != '^' && c != '`' && c != '{' && c != '|' && c != '}' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// FuzzRoutes drives every route's parser with any query string and form
// body, as an anonymous visitor, a shopper and an admin, asking for a page,
// a fragment or JSON: whatever arrives, the answer is never a 5xx.
//
//	go test -run=^$ -fuzz=FuzzRoutes -fuzztime=60s ./web/
func FuzzRoutes(f *testing.F) {
	h := newHarness(f)
	pid := h.product("Desk lamp", 1000, 50)
	shopper := h.shopper("fuzz@example.test", 1_000_000)
	if r := shopper.post("/cart/items", url.Values{"product_id": {strconv.FormatInt(pid, 10)}, "quantity": {"1"}}); r.status != http.StatusSeeOther {
		f.Fatalf("cart: %d %s", r.status, r.body)
	}
	if r := shopper.post("/checkout", url.Values{"idempotency_key": {"first"}}); r.status != http.StatusSeeOther {
		f.Fatalf("checkout: %d %s", r.status, r.body)
	}
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	r := admin.json().post("/admin/campaigns", campaignForm(nil))
	var c struct{ ID int64 }
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		f.Fatalf("campaign: %d %s", r.status, r.body)
	}
	ids := map[string]string{"product": strconv.FormatInt(pid, 10), "campaign": strconv.FormatInt(c.ID, 10), "order": strconv.FormatInt(h.count("SELECT max(id) FROM orders"), 10)}
	routes := fuzzRoutes(f, h.s, ids)
	clients := []*client{h.client(), shopper, admin}
	shapes := [][]string{nil, {"Accept", "application/json"}, {"HX-Request", "true"}}

	route := func(method, path string) uint8 {
		for i, r := range routes {
			if r.method == method && r.path == path {
				return uint8(i)
			}
		}
		f.Fatalf("no route %s %s", method, path)
		return 0
	}
	const anon, shopperJSON, adminJSON, adminPage = 0, 1 + 3, 2 + 3, 2
	seeds := []struct {
		who         uint8
		route       uint8
		query, body string
	}{
		{anon, route("POST", "/login"), "", "email=a%00@example.test&password=password123"},
		{anon, route("POST", "/login"), "", "email=%FF@example.test&password=x"},
		{anon, route("POST", "/signup"), "", "email=a%FF@example.test&name=Ann&password=password123"},
		{anon, route("POST", "/signup"), "", "email=b@example.test&name=%E2%80%AE&password=password123"},
		{anon, route("POST", "/signup"), "", "email=c@example.test&name=%E2%80%8B&password=password123"},
		{anon, route("GET", "/products"), "brand=%00", ""},
		{anon, route("GET", "/products"), "category=x%00y", ""},
		{anon, route("GET", "/products"), "q=%FF%FE&sort=%00&after=%00&min_price=%00", ""},
		{anon, route("GET", "/login"), "next=/%FF%00", ""},
		{shopperJSON, route("POST", "/checkout"), "", "idempotency_key=nul%00key"},
		{shopperJSON, route("POST", "/cart/items"), "", "product_id=1%00&quantity=%FF"},
		{shopperJSON, route("POST", "/account/topup"), "", "amount=%E2%82%A91%2C000%00"},
		{adminJSON, route("GET", "/admin/orders"), "email=a%00@example.test&from=%00&to=9999-12-31", ""},
		{adminPage, route("GET", "/admin/products"), "category=%00&brand=%E2%80%AE", ""},
		{adminJSON, route("POST", "/admin/campaigns"), "", "name=A%00&discount_type=fixed&discount_value=1&total_quantity=1&starts_at=2025-01-01T00:00&ends_at=2025-01-02T00:00"},
		{adminJSON, route("POST", "/admin/campaigns/"+ids["campaign"]), "", "name=%E2%80%AEevil&total_quantity=1"},
		{adminJSON, route("POST", "/admin/products"), "", "sku=A1&name=%00&brand=B&category=C&price=1&stock=1"},
		{adminJSON, route("POST", "/admin/products/"+ids["product"]), "", "sku=A1&name=N&brand=B&category=%00&description=%01&price=1"},
		{adminJSON, route("POST", "/admin/products/"+ids["product"]+"/stock"), "", "delta=1&reason=%00"},
		{adminJSON, route("POST", "/admin/consistency/repair"), "", "action=%00&campaign_id=%FF"},
		{adminJSON, route("GET", "/admin/consistency"), "run=%00", ""},
	}
	for _, s := range seeds {
		f.Add(s.who, s.route, s.query, s.body)
	}
	f.Fuzz(func(t *testing.T, who, routeIndex uint8, query, body string) {
		rt := routes[int(routeIndex)%len(routes)]
		c := clients[int(who)%len(clients)]
		req, err := http.NewRequestWithContext(t.Context(), rt.method, h.srv.URL+rt.path+"?"+queryBytes(query), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if shape := shapes[int(who)/len(clients)%len(shapes)]; shape != nil {
			req.Header.Set(shape[0], shape[1])
		}
		res, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode >= 500 {
			answer, _ := io.ReadAll(io.LimitReader(res.Body, 500))
			t.Fatalf("%s %s?%s with body %q as client %d: %s %s", rt.method, rt.path, queryBytes(query), body, int(who)%len(clients), res.Status, answer)
		}
	})
}
