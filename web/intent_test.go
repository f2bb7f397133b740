package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A guest's "Add to cart" and "Claim coupon" survive logging in and signing
// up (web/session.go, intent): only a same-site POST stores one, only the
// login or sign-up POST that returns to the same page carries it out.

const intentPassword = "correct horse battery"

// intentProduct is a product in stock, made by the admin.
func intentProduct(t *testing.T, h *harness) string {
	t.Helper()
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	r := admin.json().post("/admin/products", url.Values{"sku": {"INT-1"}, "name": {"Desk Lamp"}, "brand": {"Lumen"},
		"category": {"Lamps"}, "description": {"A lamp."}, "price": {"12900"}, "stock": {"10"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create product: %d %s", r.status, r.body)
	}
	var p struct {
		ID json.Number `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatal(err)
	}
	return p.ID.String()
}

// shopperAccount signs a shopper up on a client of its own and returns the email.
func shopperAccount(h *harness, name string) string {
	email := name + "@example.test"
	h.client().signup(email, name, intentPassword)
	return email
}

// cartQuantity is how many of the product the client's cart holds.
func cartQuantity(t *testing.T, c *client, productID string) int64 {
	t.Helper()
	r := c.json().get("/cart")
	var cart struct {
		Items []struct {
			ProductID json.Number `json:"product_id"`
			Quantity  int64       `json:"quantity"`
		} `json:"items"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &cart) != nil {
		t.Fatalf("cart: %d %s", r.status, r.body)
	}
	for _, it := range cart.Items {
		if it.ProductID.String() == productID {
			return it.Quantity
		}
	}
	return 0
}

func TestGuestAddToCartIsCarriedOutByTheLoginThatFollows(t *testing.T) {
	h := newHarness(t)
	id := intentProduct(t, h)
	email := shopperAccount(h, "ann")
	back := "/products/" + id

	guest := h.client()
	r := guest.post("/cart/items", url.Values{"product_id": {id}, "quantity": {"2"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape(back) {
		t.Fatalf("guest add: %d to %q", r.status, r.header.Get("Location"))
	}
	page := guest.get(r.header.Get("Location"))
	if page.status != 200 || !strings.Contains(page.body, `data-testid="intent"`) ||
		!strings.Contains(page.body, `href="/signup?next=`+url.QueryEscape(back)+`"`) {
		t.Fatalf("login page lacks the note or the sign-up link with next: %d", page.status)
	}
	// A wrong password keeps the way back and the note; nothing is added yet.
	r = guest.post("/login", url.Values{"email": {email}, "password": {"wrong password!"}, "next": {back}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `data-testid="intent"`) {
		t.Fatalf("failed login: %d", r.status)
	}
	r = guest.post("/login", url.Values{"email": {email}, "password": {intentPassword}, "next": {back}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != back {
		t.Fatalf("login: %d to %q", r.status, r.header.Get("Location"))
	}
	if n := cartQuantity(t, guest, id); n != 2 {
		t.Fatalf("cart holds %d, want 2", n)
	}
	if p := guest.get(back); !strings.Contains(p.body, "Added 2 × Desk Lamp to your cart.") {
		t.Fatal("the product page does not say the product was added")
	}
	// Carried out once: logging in again adds nothing more.
	guest.post("/logout", nil)
	guest.post("/cart/items", url.Values{"product_id": {id}, "quantity": {"5"}})
	guest.login(email, intentPassword) // next is "/", not the product: the intent waits for nothing
	if n := cartQuantity(t, guest, id); n != 2 {
		t.Fatalf("a login to another page carried out the intent: cart holds %d", n)
	}
}

func TestGuestIntentSurvivesSignupAndHTMX(t *testing.T) {
	h := newHarness(t)
	id := intentProduct(t, h)
	back := "/products/" + id

	guest := h.client()
	// The product page's HTMX form: a full navigation to the login page.
	r := guest.post("/cart/items", url.Values{"product_id": {id}, "quantity": {"3"}}, "HX-Request", "true", "HX-Current-URL", "http://shop.test"+back)
	if r.status != http.StatusNoContent || r.header.Get("HX-Redirect") != "/login?next="+url.QueryEscape(back) {
		t.Fatalf("htmx guest add: %d to %q", r.status, r.header.Get("HX-Redirect"))
	}
	// The guest has no account: the login page's link to sign up keeps the way back.
	page := guest.get("/signup?next=" + url.QueryEscape(back))
	if !strings.Contains(page.body, `data-testid="intent"`) || !strings.Contains(page.body, `href="/login?next=`+url.QueryEscape(back)+`"`) {
		t.Fatal("sign-up page lacks the note or the login link with next")
	}
	r = guest.post("/signup", url.Values{"email": {"bea@example.test"}, "name": {"Bea"}, "password": {intentPassword}, "next": {back}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != back {
		t.Fatalf("signup: %d to %q", r.status, r.header.Get("Location"))
	}
	if n := cartQuantity(t, guest, id); n != 3 {
		t.Fatalf("cart holds %d, want 3", n)
	}
}

func TestGuestIntentIsNeverCarriedOutFromAnotherSiteOrBadInput(t *testing.T) {
	h := newHarness(t)
	id := intentProduct(t, h)
	email := shopperAccount(h, "cy")
	back := "/products/" + id

	// Another site cannot store an intent: its POST is refused before anything.
	guest := h.client()
	if r := guest.post("/cart/items", url.Values{"product_id": {id}, "quantity": {"2"}}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Fatalf("cross-site add: %d", r.status)
	}
	// Nor log the shopper in to carry one out.
	guest.post("/cart/items", url.Values{"product_id": {id}, "quantity": {"2"}})
	if r := guest.post("/login", url.Values{"email": {email}, "password": {intentPassword}, "next": {back}}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Fatalf("cross-site login: %d", r.status)
	}
	// A GET of the login page, or of the product, does nothing either.
	guest.get("/login?next=" + url.QueryEscape(back))
	guest.get(back)
	if n := h.count("SELECT count(*) FROM cart_items"); n != 0 {
		t.Fatalf("cart rows after GETs and refused POSTs: %d", n)
	}

	// Input the cart would refuse is not kept: the guest goes to log in with
	// no way back, and the login adds nothing.
	for _, bad := range []url.Values{{"product_id": {"abc"}, "quantity": {"1"}}, {"product_id": {id}, "quantity": {"0"}}, {"product_id": {id}, "quantity": {"100"}}} {
		g := h.client()
		r := g.post("/cart/items", bad)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2F" {
			t.Fatalf("%v: %d to %q", bad, r.status, r.header.Get("Location"))
		}
		g.post("/login", url.Values{"email": {email}, "password": {intentPassword}, "next": {back}})
		if n := cartQuantity(t, g, id); n != 0 {
			t.Fatalf("%v: cart holds %d", bad, n)
		}
	}
}

func TestGuestClaimIsCarriedOutAfterLoginBackOnCoupons(t *testing.T) {
	h := newHarness(t)
	campaign := h.activeCampaign("5")
	email := shopperAccount(h, "dee")

	guest := h.client()
	r := guest.post("/coupons/"+campaign+"/claim", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fcoupons" {
		t.Fatalf("guest claim: %d to %q", r.status, r.header.Get("Location"))
	}
	if p := guest.get("/login?next=%2Fcoupons"); !strings.Contains(p.body, "claim the coupon for you") {
		t.Fatal("login page does not say the coupon will be claimed")
	}
	r = guest.post("/login", url.Values{"email": {email}, "password": {intentPassword}, "next": {"/coupons"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/coupons" {
		t.Fatalf("login: %d to %q", r.status, r.header.Get("Location"))
	}
	acct := guest.json().get("/account")
	if !strings.Contains(acct.body, `"campaign_id":`+campaign) {
		t.Fatalf("the coupon is not in the account: %s", acct.body)
	}
	if p := guest.get("/coupons"); !strings.Contains(p.body, "You got it!") {
		t.Fatal("the coupons page does not say the coupon was claimed")
	}
}

func TestLoginAndSignupLinksKeepOnlyALocalNext(t *testing.T) {
	h := newHarness(t)
	guest := h.client()
	for _, tc := range []struct{ next, link string }{
		{"/products/7?x=1", `href="/signup?next=%2Fproducts%2F7%3Fx%3D1"`},
		{"/", `href="/signup"`},
		{"//evil.example/", `href="/signup"`},
		{"https://evil.example/", `href="/signup"`},
		{"/\\evil.example", `href="/signup"`},
	} {
		page := guest.get("/login?next=" + url.QueryEscape(tc.next))
		if page.status != 200 || !strings.Contains(page.body, tc.link) {
			t.Errorf("login?next=%s: %d, want a link %s", tc.next, page.status, tc.link)
		}
		if strings.Contains(page.body, "evil.example") {
			t.Errorf("login?next=%s keeps the other site", tc.next)
		}
	}
	if page := guest.get("/signup?next=%2Forders"); !strings.Contains(page.body, `href="/login?next=%2Forders"`) {
		t.Error("the sign-up page's login link loses next")
	}
}

// A plain form posted by a guest whose session ended sends them to log in
// and back to the page the form was on (its Referer), not to the home page.
func TestAGuestsPlainFormComesBackToItsPage(t *testing.T) {
	h := newHarness(t)
	guest := h.client()
	for referer, want := range map[string]string{
		h.srv.URL + "/account?tab=money": "/login?next=%2Faccount%3Ftab%3Dmoney",
		"":                               "/login?next=%2F",
	} {
		var extra []string
		if referer != "" {
			extra = []string{"Referer", referer}
		}
		r := guest.post("/account/topup", url.Values{"amount": {"1000"}}, extra...)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Fatalf("referer %q: %d to %q, want %q", referer, r.status, r.header.Get("Location"), want)
		}
	}
}
