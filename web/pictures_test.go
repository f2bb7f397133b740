package web

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"market/internal/catalog"
)

// upload is one part of a picture form: the file as a browser would send it.
type upload struct {
	filename, contentType string
	data                  []byte
}

// postPicture sends the multipart picture form; a nil file or an empty alt
// leaves that field out.
func (c *client) postPicture(productID int64, file *upload, alt *string) reply {
	c.h.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if file != nil {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Disposition", `form-data; name="image"; filename="`+file.filename+`"`)
		hdr.Set("Content-Type", file.contentType)
		w, _ := mw.CreatePart(hdr)
		_, _ = w.Write(file.data)
	}
	if alt != nil {
		_ = mw.WriteField("alt", *alt)
	}
	_ = mw.Close()
	return c.do(http.MethodPost, "/admin/products/"+strconv.FormatInt(productID, 10)+"/image", &body, mw.FormDataContentType())
}

func ptr(s string) *string { return &s }

// testPicture draws a w×h picture with a gradient and, when alpha, a
// transparent corner.
func testPicture(w, h int, alpha bool) image.Image {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha && x < w/4 && y < h/4 {
				a = 0
			}
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 120, a})
		}
	}
	return m
}

func pngOf(m image.Image) []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, m)
	return b.Bytes()
}

func jpegOf(m image.Image) []byte {
	var b bytes.Buffer
	_ = jpeg.Encode(&b, m, nil)
	return b.Bytes()
}

// pngHeaderClaiming is the start of a PNG whose header says w×h and which
// has no pixel data at all: decoding it would fail, so a refusal that names
// the dimensions proves they were read before any decoding.
func pngHeaderClaiming(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

// A 1×1 lossless WebP.
var tinyWebP, _ = base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")

// newPictureHarness is the harness with an admin signed in and one product.
func newPictureHarness(t *testing.T) (*harness, *client, int64) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	r := admin.json().post("/admin/products", url.Values{"sku": {"PIC-1"}, "name": {"Sonora Air Headphones"}, "brand": {"Sonora"},
		"category": {"audio"}, "description": {"Good sound."}, "price": {"129000"}, "stock": {"5"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var p struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal([]byte(r.body), &p)
	return h, admin, p.ID
}

func (h *harness) nothingStored(t *testing.T) {
	t.Helper()
	if n := h.count("SELECT count(*) FROM product_pictures") + h.count("SELECT count(*) FROM products WHERE image_key IS NOT NULL"); n != 0 {
		t.Fatalf("a refused upload stored something (%d rows)", n)
	}
}

func TestPictureUploadRefusesWhatIsNotAPictureAndStoresNothing(t *testing.T) {
	h, admin, id := newPictureHarness(t)
	good := &upload{"photo.png", "image/png", pngOf(testPicture(40, 30, false))}
	truncated := pngOf(testPicture(40, 30, false))
	truncated = truncated[:len(truncated)/2]
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`)
	overLimit := append(pngOf(testPicture(4, 4, false)), make([]byte, catalog.MaxPictureBytes)...)

	cases := []struct {
		name   string
		file   *upload
		alt    *string
		status int
		code   string
	}{
		{"text named .jpg and declared a JPEG", &upload{"photo.jpg", "image/jpeg", []byte("just some text, not a picture")}, ptr("A photo"), 415, "unsupported_picture"},
		{"an SVG", &upload{"logo.svg", "image/svg+xml", svg}, ptr("A logo"), 415, "unsupported_picture"},
		{"an SVG declared a PNG", &upload{"logo.png", "image/png", svg}, ptr("A logo"), 415, "unsupported_picture"},
		{"a GIF", &upload{"a.gif", "image/gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")}, ptr("A gif"), 415, "unsupported_picture"},
		{"a bomb: a tiny PNG claiming 60000×60000", &upload{"bomb.png", "image/png", pngHeaderClaiming(60000, 60000)}, ptr("A bomb"), 422, "picture_too_many_pixels"},
		{"6001 pixels a side", &upload{"wide.png", "image/png", pngHeaderClaiming(6001, 10)}, ptr("Wide"), 422, "picture_too_many_pixels"},
		{"5000×5000: 25 megapixels", &upload{"big.png", "image/png", pngHeaderClaiming(5000, 5000)}, ptr("Big"), 422, "picture_too_many_pixels"},
		{"a damaged PNG", &upload{"cut.png", "image/png", truncated}, ptr("Cut"), 422, "picture_unreadable"},
		{"over 5 MB", &upload{"huge.png", "image/png", overLimit}, ptr("Huge"), 413, "too_large"},
		{"no file", nil, ptr("Nothing"), 422, "invalid_input"},
		{"an empty file", &upload{"empty.png", "image/png", nil}, ptr("Nothing"), 422, "invalid_input"},
		{"no alt", good, nil, 422, "invalid_input"},
		{"a blank alt", good, ptr("   "), 422, "invalid_input"},
		{"an alt of 201 characters", good, ptr(strings.Repeat("a", 201)), 422, "invalid_input"},
		{"an alt with a control character", good, ptr("A photo\x07"), 422, "invalid_input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := admin.json().postPicture(id, c.file, c.alt)
			if r.status != c.status || !strings.Contains(r.body, `"code":"`+c.code+`"`) {
				t.Fatalf("status %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
			h.nothingStored(t)
			// A browser gets the product page back with the message at the field.
			if r := admin.postPicture(id, c.file, c.alt); r.status != c.status || !strings.Contains(r.body, `class="field-error"`) {
				t.Fatalf("browser: status %d, want %d with a field message", r.status, c.status)
			}
		})
	}

	t.Run("not a multipart form", func(t *testing.T) {
		r := admin.json().post("/admin/products/"+strconv.FormatInt(id, 10)+"/image", url.Values{"alt": {"A photo"}})
		if r.status != 422 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
	t.Run("a body over the route's limit is refused before it is read", func(t *testing.T) {
		big := bytes.Repeat([]byte{'x'}, catalog.MaxPictureBytes+128<<10)
		r := admin.json().do(http.MethodPost, "/admin/products/"+strconv.FormatInt(id, 10)+"/image", bytes.NewReader(big), "multipart/form-data; boundary=x")
		if r.status != 413 || !strings.Contains(r.body, "5 MB") {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
	t.Run("the 1 MiB limit still holds elsewhere", func(t *testing.T) {
		big := bytes.Repeat([]byte{'x'}, 2<<20)
		r := admin.json().do(http.MethodPost, "/admin/products/"+strconv.FormatInt(id, 10), bytes.NewReader(big), "application/x-www-form-urlencoded")
		if r.status != 413 {
			t.Fatalf("status %d", r.status)
		}
	})
	t.Run("a shopper is refused", func(t *testing.T) {
		shopper := h.client()
		shopper.signup("shopper@example.test", "Shopper", "password123")
		if r := shopper.json().postPicture(id, good, ptr("A photo")); r.status != 403 {
			t.Fatalf("status %d", r.status)
		}
		if r := h.client().json().postPicture(id, good, ptr("A photo")); r.status != 401 {
			t.Fatalf("anonymous: status %d", r.status)
		}
	})
	t.Run("an unknown product", func(t *testing.T) {
		if r := admin.json().postPicture(id+1000, good, ptr("A photo")); r.status != 404 || !strings.Contains(r.body, `"code":"not_found"`) {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
	h.nothingStored(t)
}

// pictureJSON is the part of a product's JSON about its picture.
type pictureJSON struct {
	ImageURL *string `json:"image_url"`
	ImageAlt *string `json:"image_alt"`
}

func (c *client) productPicture(id int64) pictureJSON {
	c.h.t.Helper()
	r := c.json().get("/products/" + strconv.FormatInt(id, 10))
	var p pictureJSON
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != 200 {
		c.h.t.Fatalf("product: %d %s", r.status, r.body)
	}
	return p
}

func decodeServed(t *testing.T, r reply) image.Config {
	t.Helper()
	cfg, _, err := image.DecodeConfig(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("served bytes are not a picture: %v", err)
	}
	return cfg
}

func TestPictureIsRecognisedByContentAndSizedTwice(t *testing.T) {
	h, admin, id := newPictureHarness(t)
	shopper := h.client()
	if p := shopper.productPicture(id); p.ImageURL != nil || p.ImageAlt != nil {
		t.Fatalf("a product without a picture: %+v", p)
	}

	// A PNG that the browser declared a JPEG, named .jpg: taken as the PNG it is.
	r := admin.json().postPicture(id, &upload{"photo.jpg", "image/jpeg", pngOf(testPicture(2000, 1500, false))}, ptr("  Black headphones on a desk "))
	if r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var kind string
	_ = h.pool.QueryRow(t.Context(), "SELECT original_type FROM product_pictures WHERE product_id = $1", id).Scan(&kind)
	if kind != "image/png" {
		t.Fatalf("stored as %q, want image/png", kind)
	}
	p := shopper.productPicture(id)
	if p.ImageURL == nil || !regexp.MustCompile(`^/images/[0-9a-f]{32}-960\.jpg$`).MatchString(*p.ImageURL) || *p.ImageAlt != "Black headphones on a desk" {
		t.Fatalf("product JSON: %+v", p)
	}
	large := shopper.get(*p.ImageURL)
	small := shopper.get(strings.Replace(*p.ImageURL, "-960.", "-320.", 1))
	for _, c := range []struct {
		r    reply
		w, h int
	}{{large, 960, 720}, {small, 320, 240}} {
		if c.r.status != 200 || c.r.header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("size %d: %d %s", c.w, c.r.status, c.r.header.Get("Content-Type"))
		}
		if cfg := decodeServed(t, c.r); cfg.Width != c.w || cfg.Height != c.h {
			t.Fatalf("size %d is %d×%d, want %d×%d", c.w, cfg.Width, cfg.Height, c.w, c.h)
		}
	}

	// Transparency is kept: the sizes are PNG.
	r = admin.json().postPicture(id, &upload{"cut-out.png", "image/png", pngOf(testPicture(400, 200, true))}, ptr("Cut-out"))
	if r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	p = shopper.productPicture(id)
	if !strings.HasSuffix(*p.ImageURL, "-960.png") {
		t.Fatalf("a transparent picture's sizes: %s", *p.ImageURL)
	}
	large = shopper.get(*p.ImageURL)
	m, err := png.Decode(strings.NewReader(large.body))
	if err != nil || large.header.Get("Content-Type") != "image/png" || m.Bounds().Dx() != 400 || m.Bounds().Dy() != 200 {
		t.Fatalf("a narrow picture keeps its width: %v %v", err, m.Bounds())
	}
	if _, _, _, a := m.At(0, 0).RGBA(); a != 0 {
		t.Fatalf("the transparent corner is opaque (alpha %d)", a)
	}
	small = shopper.get(strings.Replace(*p.ImageURL, "-960.", "-320.", 1))
	if cfg := decodeServed(t, small); cfg.Width != 320 || cfg.Height != 160 {
		t.Fatalf("small: %d×%d", cfg.Width, cfg.Height)
	}

	// WebP and JPEG are taken too.
	for _, f := range []*upload{{"a.webp", "application/octet-stream", tinyWebP}, {"b", "", jpegOf(testPicture(64, 48, false))}} {
		if r := admin.json().postPicture(id, f, ptr("Another")); r.status != 200 {
			t.Fatalf("%s: %d %s", f.filename, r.status, r.body)
		}
	}
	if n := h.count("SELECT count(*) FROM product_pictures"); n != 1 {
		t.Fatalf("%d picture rows for one product, want 1 (a new picture replaces the old)", n)
	}
}

func TestPictureServingIsCachedForeverAndReplacedByNewURL(t *testing.T) {
	h, admin, id := newPictureHarness(t)
	if r := admin.json().postPicture(id, &upload{"a.jpg", "image/jpeg", jpegOf(testPicture(800, 600, false))}, ptr("First")); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	shopper := h.client()
	first := *shopper.productPicture(id).ImageURL

	r := shopper.get(first)
	if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Content-Type") != "image/jpeg" ||
		r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
		t.Fatalf("first fetch: %d %v", r.status, r.header)
	}
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if again := shopper.get(first, "If-None-Match", etag); again.status != 304 || again.body != "" || again.header.Get("ETag") != etag {
		t.Fatalf("conditional: %d (%d bytes)", again.status, len(again.body))
	}
	if other := shopper.get(first, "If-None-Match", `"something-else"`); other.status != 200 {
		t.Fatalf("another tag: %d", other.status)
	}
	// A signed-in shopper gets the same cacheable answer (no session is read).
	signedIn := h.client()
	signedIn.signup("s@example.test", "S", "password123")
	if r := signedIn.get(first); r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("signed in: %d %q", r.status, r.header.Get("Cache-Control"))
	}

	// A replaced picture has a new URL; the old one is gone.
	if r := admin.json().postPicture(id, &upload{"b.jpg", "image/jpeg", jpegOf(testPicture(600, 600, false))}, ptr("Second")); r.status != 200 {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}
	second := *shopper.productPicture(id).ImageURL
	if second == first {
		t.Fatal("a new picture kept the old URL")
	}
	if r := shopper.get(first); r.status != 404 {
		t.Fatalf("the replaced picture: %d", r.status)
	}
	if r := shopper.get(first, "If-None-Match", etag); r.status != 404 {
		t.Fatalf("the replaced picture, conditionally: %d", r.status)
	}
	if r := shopper.get(second); r.status != 200 {
		t.Fatalf("the new picture: %d", r.status)
	}

	hash := regexp.MustCompile(`[0-9a-f]{32}`).FindString(second)
	for _, path := range []string{
		"/images/" + strings.Repeat("0", 32) + "-960.jpg", // unknown hash
		"/images/" + hash + "-960.png",                    // the wrong type
		"/images/" + hash + "-500.jpg",                    // no such size
		"/images/" + hash + ".jpg",
		"/images/" + strings.ToUpper(hash) + "-960.jpg",
		"/images/..%2f..%2fetc%2fpasswd",
	} {
		if r := shopper.get(path); r.status != 404 {
			t.Errorf("%s: %d, want 404", path, r.status)
		}
	}
}

func TestPicturesShowOnCardsAndTheProductPage(t *testing.T) {
	h, admin, id := newPictureHarness(t)
	r := admin.json().post("/admin/products", url.Values{"sku": {"PIC-2"}, "name": {"Plain Lamp"}, "brand": {"Maru"},
		"category": {"Lighting"}, "price": {"9900"}, "stock": {"5"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := admin.json().postPicture(id, &upload{"a.jpg", "image/jpeg", jpegOf(testPicture(800, 600, false))}, ptr("Black headphones & a <desk>")); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	shopper := h.client()
	url := *shopper.productPicture(id).ImageURL

	page := shopper.get("/products/" + strconv.FormatInt(id, 10)).body
	img := regexp.MustCompile(`<img src="` + regexp.QuoteMeta(url) + `"[^>]*>`).FindString(page)
	if img == "" || !strings.Contains(img, `alt="Black headphones &amp; a &lt;desk&gt;"`) || !strings.Contains(img, `width="800" height="600"`) || // an 800 px original keeps its width
		strings.Contains(img, "lazy") {
		t.Fatalf("product page picture: %q", img)
	}

	// Search: the JSON has image_url (null without a picture); the cards
	// show the picture, lazily, with its text, or the category's illustration.
	var got struct {
		Items []struct {
			Name     string  `json:"name"`
			ImageURL *string `json:"image_url"`
		} `json:"items"`
	}
	res := shopper.json().get("/products?sort=newest")
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || len(got.Items) != 2 {
		t.Fatalf("search: %s", res.body)
	}
	if got.Items[0].ImageURL != nil || got.Items[1].ImageURL == nil || *got.Items[1].ImageURL != url {
		t.Fatalf("search items: %s", res.body)
	}
	grid := shopper.get("/products?sort=newest").body
	card := regexp.MustCompile(`<img src="/images/[^"]*-320\.jpg"[^>]*>`).FindString(grid)
	if !strings.Contains(card, `loading="lazy"`) || !strings.Contains(card, `alt="Black headphones &amp; a &lt;desk&gt;"`) ||
		!strings.Contains(card, `width="320" height="240"`) || !strings.Contains(card, "-960.jpg 960w") {
		t.Fatalf("card picture: %q", card)
	}
	if !strings.Contains(grid, `src="/static/illustrations/generic.svg?v=`) {
		t.Fatal("a product without a picture in a category without an illustration shows no generic illustration")
	}
	plain := shopper.get("/products/" + strconv.FormatInt(id+1, 10)).body
	if !regexp.MustCompile(`<img class="illustration" src="/static/illustrations/generic.svg\?v=[0-9a-f]+" width="320" height="240" alt="">`).MatchString(plain) {
		t.Fatal("the product page of a product without a picture shows no illustration")
	}
	if r := shopper.get("/static/illustrations/audio.svg"); r.status != 200 || r.header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("illustration: %d %s", r.status, r.header.Get("Content-Type"))
	}
	// The home shelf shows it too.
	if home := shopper.get("/").body; !strings.Contains(home, `src="`+strings.Replace(url, "-960.", "-320.", 1)+`"`) {
		t.Fatal("the home shelf shows no picture")
	}
}
