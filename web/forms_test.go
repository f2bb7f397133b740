package web

import (
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"market/internal/account"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	return httptest.NewRequest(http.MethodGet, path, nil)
}

func TestFormInt64(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"12900", 12900, false},
		{"₩12,900", 12900, false},
		{"1,000,000", 1_000_000, false},
		{" 1 ", 1, false},
		{"1,2", 0, true}, // commas only group thousands
		{",1", 0, true},
		{"1,,000", 0, true},
		{"1000,000", 0, true},
		{"12,9000", 0, true},
		{"+,123", 0, true},
		{"-1", 0, true},
		{"0", 0, true},
		{"1000001", 0, true},
		{"1e3", 0, true},
		{"12.5", 0, true},
		{"99999999999999999999999", 0, true},
		{"abc", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		f := newForm(url.Values{"amount": {tt.in}})
		got := f.int64("amount", 1, 1_000_000, true, 0)
		if (f.err() != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("%q: got %d err %v", tt.in, got, f.err())
		}
	}
}

// A sign goes before the ₩, as amounts are written ("-₩1,000"), and only once.
func TestSignedAmountsTakeTheSignBeforeTheWon(t *testing.T) {
	for in, want := range map[string]int64{"-₩1,000": -1000, "+₩5": 5, "-12": -12, "₩7": 7} {
		if n, err := parseWhole(in); err != nil || n != want {
			t.Errorf("%q: %d %v, want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"₩-1", "₩+5", "--1", "-+1", "-", "-₩", "+,123", "₩-1,000"} {
		if n, err := parseWhole(in); err == nil {
			t.Errorf("%q parsed as %d", in, n)
		}
	}
}

func FuzzParseWhole(f *testing.F) {
	for _, s := range []string{"0", "-12", "₩1,000", "9223372036854775807", "9223372036854775808", ",,,", "₩", "1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseWhole(s)
		if err != nil {
			return
		}
		// Whatever parsed must round-trip: no silent truncation or overflow.
		clean := strings.NewReplacer("₩", "", ",", "").Replace(strings.TrimSpace(s))
		clean = strings.TrimPrefix(clean, "+")
		digits := strconv.FormatInt(n, 10)
		if back, _ := parseWhole(digits); back != n || strings.TrimLeft(strings.TrimPrefix(clean, "-"), "0") != strings.TrimLeft(strings.TrimPrefix(digits, "-"), "0") {
			t.Fatalf("%q parsed as %d", s, n)
		}
	})
}

// FuzzSignupForm: any body either is refused with field messages or yields
// input that meets the contract; parsing never panics.
func FuzzSignupForm(f *testing.F) {
	f.Add("email=a%40b.co&name=Ann&password=password1")
	f.Add("email=%00&name=%FF%FE&password=")
	f.Add("name=" + strings.Repeat("%E2%82%A9", 120))
	f.Add("%%%&&&===")
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fm, err := parseForm(req)
		if err != nil {
			return
		}
		in := account.SignupInput{Email: fm.values["email"], Name: fm.values["name"], Password: fm.values["password"]}
		in.Normalize()
		if in.Validate() != nil {
			return
		}
		if !account.ValidEmail(in.Email) || !utf8.ValidString(in.Name) || utf8.RuneCountInString(in.Name) > 100 || in.Name == "" ||
			utf8.RuneCountInString(in.Password) < 8 || utf8.RuneCountInString(in.Password) > 128 {
			t.Fatalf("accepted out-of-contract input %+v", in)
		}
	})
}

// A form sent as multipart/form-data (as a browser's FormData or curl -F
// sends it) reads like an urlencoded one, on every form route.
func TestMultipartFormsReadLikeUrlencodedOnes(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	multipartPost := func(path string, fields map[string]string) reply {
		var body strings.Builder
		mw := multipart.NewWriter(&body)
		for k, v := range fields {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		return c.do(http.MethodPost, path, strings.NewReader(body.String()), mw.FormDataContentType())
	}
	if r := multipartPost("/signup", map[string]string{"email": "multi@example.test", "name": "Multi Part", "password": "correct horse battery"}); r.status != http.StatusSeeOther {
		t.Fatalf("a multipart signup: %d %s", r.status, r.body)
	}
	if r := multipartPost("/account/topup", map[string]string{"amount": "₩12,900"}); r.status != http.StatusSeeOther {
		t.Fatalf("a multipart top-up: %d %s", r.status, r.body)
	}
	if got := h.count("SELECT balance FROM users WHERE email = 'multi@example.test'"); got != 12900 {
		t.Fatalf("balance %d after a multipart top-up of 12900", got)
	}
	// Its fields are held to the same rules.
	if r := multipartPost("/account/topup", map[string]string{"amount": "-5"}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a multipart top-up of -5: %d", r.status)
	}
}
