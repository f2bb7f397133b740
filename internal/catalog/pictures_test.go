package catalog

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"sync"
	"testing"

	"market/internal/errs"
	"market/internal/testenv"
)

func TestPictureKeyIsTheLargeURLInJSONAndReadsBack(t *testing.T) {
	type item struct {
		Picture PictureKey `json:"image_url"`
	}
	key := PictureKey("0123456789abcdef0123456789abcdef.png")
	if got := key.URL(SmallWidth); got != "/images/0123456789abcdef0123456789abcdef-320.png" {
		t.Fatalf("small URL %q", got)
	}
	for _, c := range []struct {
		in   item
		json string
	}{
		{item{key}, `{"image_url":"/images/0123456789abcdef0123456789abcdef-960.png"}`},
		{item{}, `{"image_url":null}`},
	} {
		b, err := json.Marshal(c.in)
		if err != nil || string(b) != c.json {
			t.Fatalf("marshal %+v: %s %v", c.in, b, err)
		}
		var back item
		if err := json.Unmarshal(b, &back); err != nil || back != c.in {
			t.Fatalf("unmarshal %s: %+v %v", b, back, err)
		}
	}
}

func TestResizeKeepsProportionsAndNeverEnlarges(t *testing.T) {
	for _, c := range []struct{ w, h, to, wantW, wantH int }{
		{4000, 100, LargeWidth, 960, 24}, // past twice the width: the bilinear pass first
		{1200, 900, LargeWidth, 960, 720},
		{1200, 900, SmallWidth, 320, 240},
		{500, 1000, LargeWidth, 500, 1000}, // narrower: kept
		{3000, 1, SmallWidth, 320, 1},      // never 0 pixels high
	} {
		got := resize(image.NewRGBA(image.Rect(0, 0, c.w, c.h)), c.to).Bounds()
		if got.Dx() != c.wantW || got.Dy() != c.wantH {
			t.Errorf("%d×%d to %d: %d×%d, want %d×%d", c.w, c.h, c.to, got.Dx(), got.Dy(), c.wantW, c.wantH)
		}
	}
}

func jpegPicture(t *testing.T, w, h int, shade uint8) []byte {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, color.RGBA{shade, uint8(x), uint8(y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Uploads that race for one product leave one picture, and the catalogue
// row names that very picture: the key and the row change together.
func TestConcurrentUploadsLeaveOnePictureThatTheProductNames(t *testing.T) {
	pool := testenv.DB(t)
	s := NewService(pool)
	p, err := s.Create(t.Context(), ProductInput{SKU: "RACE-1", Name: "Race Lamp", Brand: "Maru", Category: "Lighting", Price: 9900, Stock: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	files := make([][]byte, n)
	for i := range files {
		files[i] = jpegPicture(t, 200+i, 150, uint8(i*30))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			if _, err := s.SetPicture(t.Context(), p.ID, PictureUpload{Data: files[i], Alt: "Lamp"}); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	var rows int
	var key, hash string
	var width int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) OVER (), p.image_key, pp.hash, pp.width
		FROM products p JOIN product_pictures pp ON pp.product_id = p.id WHERE p.id = $1`, p.ID).Scan(&rows, &key, &hash, &width); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || key != hash+".jpg" {
		t.Fatalf("%d rows; the product names %q, the picture is %q", rows, key, hash)
	}
	got, err := s.Product(t.Context(), p.ID)
	if err != nil || got.Picture == nil || got.Picture.LargeWidth != width {
		t.Fatalf("product: %+v %v", got.Picture, err)
	}
}

func TestAPictureForAProductThatIsGoneIsNotFound(t *testing.T) {
	pool := testenv.DB(t)
	s := NewService(pool)
	_, err := s.SetPicture(t.Context(), 424242, PictureUpload{Data: jpegPicture(t, 10, 10, 0), Alt: "Lamp"})
	if !errs.Is(err, errs.NotFound) {
		t.Fatalf("got %v, want not found", err)
	}
	var n int
	_ = pool.QueryRow(t.Context(), "SELECT count(*) FROM product_pictures").Scan(&n)
	if n != 0 {
		t.Fatalf("%d pictures stored", n)
	}
}
