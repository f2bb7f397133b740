package web

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func addressForm(recipient string, def bool) url.Values {
	f := url.Values{"recipient": {recipient}, "phone": {"010-1234-5678"}, "postal_code": {"06236"},
		"line1": {"123 Teheran-ro, Gangnam-gu, Seoul"}, "line2": {"Apt 1001"}}
	if def {
		f.Set("is_default", "1")
	}
	return f
}

type addressJSON struct {
	ID         int64  `json:"id"`
	Recipient  string `json:"recipient"`
	Phone      string `json:"phone"`
	PostalCode string `json:"postal_code"`
	IsDefault  bool   `json:"is_default"`
}

func listAddresses(t *testing.T, c *client) []addressJSON {
	t.Helper()
	r := c.get("/account/addresses")
	var body struct{ Addresses []addressJSON }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &body) != nil {
		t.Fatalf("GET /account/addresses: %d %s", r.status, r.body)
	}
	return body.Addresses
}

// The first address is the default; one saved as the default takes over;
// deleting the default hands it to the newest left; the phone is kept as
// digits.
func TestAddressesKeepExactlyOneDefault(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signup("addr@example.test", "Addr", "password123")
	c = c.json()

	r := c.post("/account/addresses", addressForm("First", false))
	var first addressJSON
	if r.status != 201 || json.Unmarshal([]byte(r.body), &first) != nil || !first.IsDefault || first.Phone != "01012345678" {
		t.Fatalf("first address: %d %s", r.status, r.body)
	}
	c.post("/account/addresses", addressForm("Second", false))
	r = c.post("/account/addresses", addressForm("Third", true))
	var third addressJSON
	_ = json.Unmarshal([]byte(r.body), &third)
	list := listAddresses(t, c)
	if len(list) != 3 || list[0].ID != third.ID || !list[0].IsDefault || list[1].IsDefault || list[2].IsDefault {
		t.Fatalf("after adding a default: %+v", list)
	}
	if r := c.post("/account/addresses/"+strconv.FormatInt(third.ID, 10)+"/delete", nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	list = listAddresses(t, c)
	if len(list) != 2 || !list[0].IsDefault || list[0].Recipient != "Second" {
		t.Fatalf("after deleting the default, the newest left should be it: %+v", list)
	}
	// Changing the first, and making it the default.
	if r := c.post("/account/addresses/"+strconv.FormatInt(first.ID, 10), addressForm("First, moved", true)); r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	list = listAddresses(t, c)
	if list[0].ID != first.ID || list[0].Recipient != "First, moved" || !list[0].IsDefault || list[1].IsDefault {
		t.Fatalf("after the update: %+v", list)
	}
	if n := h.count("SELECT count(*) FROM addresses WHERE is_default"); n != 1 {
		t.Fatalf("%d default addresses", n)
	}
}

func TestAddressesRefuseBadInputAndOthersAddresses(t *testing.T) {
	h := newHarness(t)
	owner := h.client()
	owner.signup("owner@example.test", "Owner", "password123")
	owner = owner.json()
	var mine addressJSON
	_ = json.Unmarshal([]byte(owner.post("/account/addresses", addressForm("Mine", false)).body), &mine)
	other := h.client()
	other.signup("other@example.test", "Other", "password123")
	other = other.json()

	bad := func(k, v string) url.Values { f := addressForm("X", false); f.Set(k, v); return f }
	tests := []struct {
		name   string
		c      *client
		path   string
		form   url.Values
		status int
		text   string
	}{
		{"postal code of four digits", owner, "/account/addresses", bad("postal_code", "1234"), 422, "five digits"},
		{"postal code with letters", owner, "/account/addresses", bad("postal_code", "1234a"), 422, "five digits"},
		{"phone too short", owner, "/account/addresses", bad("phone", "1234"), 422, "9 to 11 digits"},
		{"phone with letters", owner, "/account/addresses", bad("phone", "010-CALL-ME"), 422, "9 to 11 digits"},
		{"no recipient", owner, "/account/addresses", bad("recipient", "  "), 422, "who receives"},
		{"NUL in the address", owner, "/account/addresses", bad("line1", "a\x00b"), 422, "control character"},
		{"huge second line", owner, "/account/addresses", bad("line2", strings.Repeat("x", 201)), 422, "at most 200"},
		{"a bad default flag", owner, "/account/addresses", bad("is_default", "maybe"), 422, "Tick the box"},
		{"another shopper's address", other, "/account/addresses/" + strconv.FormatInt(mine.ID, 10), addressForm("Stolen", true), 404, "among yours"},
		{"deleting another shopper's address", other, "/account/addresses/" + strconv.FormatInt(mine.ID, 10) + "/delete", nil, 404, "among yours"},
		{"an id that is not one", owner, "/account/addresses/abc", addressForm("X", false), 404, ""},
		{"a negative id", owner, "/account/addresses/-1/delete", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.count("SELECT count(*) FROM addresses WHERE recipient = 'Mine' AND phone = '01012345678'")
			rows := h.count("SELECT count(*) FROM addresses")
			r := tt.c.post(tt.path, tt.form)
			if r.status != tt.status || !strings.Contains(r.body, tt.text) {
				t.Fatalf("status %d, want %d with %q: %s", r.status, tt.status, tt.text, r.body)
			}
			if h.count("SELECT count(*) FROM addresses") != rows || h.count("SELECT count(*) FROM addresses WHERE recipient = 'Mine' AND phone = '01012345678'") != before {
				t.Fatal("a refused request changed the addresses")
			}
		})
	}
	if r := other.get("/account/addresses?edit=" + strconv.FormatInt(mine.ID, 10)); r.status != 404 {
		t.Fatalf("another shopper's edit form: %d", r.status)
	}
	if r := h.client().get("/account/addresses"); r.status != 303 || !strings.Contains(r.header.Get("Location"), "/login") {
		t.Fatalf("a guest: %d, want 303 to log in", r.status)
	}
}

// Twenty tabs adding at once stop at the limit, with one default.
func TestSimultaneousAddressesStopAtTheLimit(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signup("crowd@example.test", "Crowd", "password123")
	c = c.json()
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make(chan int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses <- c.post("/account/addresses", addressForm("Tab "+strconv.Itoa(i), i%2 == 0)).status
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	if got[201] != 10 || got[409] != 10 {
		t.Fatalf("statuses %v, want 10 × 201 and 10 × 409", got)
	}
	if n := h.count("SELECT count(*) FROM addresses WHERE is_default"); n != 1 {
		t.Fatalf("%d defaults", n)
	}
}

// The browser's page: the list and the form, and a refused form shown
// again with its message under the field.
func TestAddressesPageShowsTheFormErrors(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signup("page@example.test", "Page", "password123")
	f := addressForm("Kim", false)
	f.Set("postal_code", "12")
	r := c.post("/account/addresses", f)
	if r.status != 422 || !strings.Contains(r.body, "A postal code is five digits") || !strings.Contains(r.body, `value="Kim"`) {
		t.Fatalf("refused form: %d %s", r.status, r.body)
	}
	if r := c.post("/account/addresses", addressForm("Kim", false)); r.status != 303 {
		t.Fatalf("saved: %d", r.status)
	}
	r = c.get("/account/addresses")
	if r.status != 200 || !strings.Contains(r.body, "010-1234-5678") || !strings.Contains(r.body, "Default") {
		t.Fatalf("page: %d %s", r.status, r.body)
	}
}

// Checkout ships to the default address or the one chosen, keeps a copy of
// it that later edits do not touch, and refuses a shopper with none, or
// another shopper's address.
func TestCheckoutShipsToACopyOfTheChosenAddress(t *testing.T) {
	h := newHarness(t)
	p := h.product("Lamp", 10_000, 10)
	buyer := h.shopper("ship@example.test", 100_000).json()
	var second addressJSON
	_ = json.Unmarshal([]byte(buyer.post("/account/addresses", addressForm("Office", false)).body), &second)
	other := h.shopper("other-ship@example.test", 100_000).json()
	var others addressJSON
	_ = json.Unmarshal([]byte(other.post("/account/addresses", addressForm("Not yours", false)).body), &others)

	buyer.post("/cart/items", url.Values{"product_id": {strconv.FormatInt(p, 10)}, "quantity": {"1"}})
	r := buyer.post("/checkout", url.Values{"idempotency_key": {"a"}, "address_id": {strconv.FormatInt(others.ID, 10)}})
	if r.status != 422 || decode(t, r)["code"] != "invalid_input" {
		t.Fatalf("another shopper's address: %d %s", r.status, r.body)
	}
	r = buyer.post("/checkout", url.Values{"idempotency_key": {"b"}, "address_id": {strconv.FormatInt(second.ID, 10)}})
	o := decode(t, r)
	addr, _ := o["address"].(map[string]any)
	if r.status != 201 || addr["recipient"] != "Office" || addr["postal_code"] != "06236" {
		t.Fatalf("checkout: %d %s", r.status, r.body)
	}
	buyer.post("/account/addresses/"+strconv.FormatInt(second.ID, 10), addressForm("Moved office", false))
	buyer.post("/account/addresses/"+strconv.FormatInt(second.ID, 10)+"/delete", nil)
	again := decode(t, buyer.get("/orders/"+strconv.FormatFloat(o["id"].(float64), 'f', 0, 64)))
	if a, _ := again["address"].(map[string]any); a["recipient"] != "Office" {
		t.Fatalf("the order's address changed with the shopper's: %v", again["address"])
	}

	// A shopper without any address: 422 address_required, nothing placed.
	c := h.client()
	c.signup("nowhere@example.test", "Nowhere", "password123")
	c.post("/account/topup", url.Values{"amount": {"50000"}})
	c = c.json()
	c.post("/cart/items", url.Values{"product_id": {strconv.FormatInt(p, 10)}, "quantity": {"1"}})
	before := h.state()
	r = c.post("/checkout", url.Values{"idempotency_key": {"c"}})
	if r.status != 422 || decode(t, r)["code"] != "address_required" || h.state() != before {
		t.Fatalf("no address: %d %s", r.status, r.body)
	}
	page := h.client()
	page.login("nowhere@example.test", "password123")
	if r := page.get("/cart"); !strings.Contains(r.body, "Add a delivery address to check out") {
		t.Fatalf("the cart does not say to add an address")
	}
	// Added on the way, the address form goes back to the cart.
	f := addressForm("Home", false)
	f.Set("next", "/cart")
	if r := page.post("/account/addresses", f); r.status != 303 || r.header.Get("Location") != "/cart" {
		t.Fatalf("address on the way to checkout: %d %s", r.status, r.header.Get("Location"))
	}
}
