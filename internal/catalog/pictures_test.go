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
	"market/internal/replica"
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
	s := NewService(replica.PrimaryOnly(pool))
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
	s := NewService(replica.PrimaryOnly(pool))
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

// withOrientation puts an EXIF block saying orientation o after a JPEG's
// start marker, as a phone camera writes it.
func withOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
	tiff[18], tiff[19] = byte(o>>8), byte(o)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := append([]byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	return append(append(append([]byte{}, jpg[:2]...), app1...), jpg[2:]...)
}

// A phone's picture stored sideways with orientation 6 ("turn a quarter
// clockwise") is served upright: its left half (red) on top.
func TestAPhonePictureIsTurnedAsItsEXIFSays(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 1600, 800))
	for y := range 800 {
		for x := range 1600 {
			c := color.RGBA{220, 30, 30, 255}
			if x >= 800 {
				c = color.RGBA{30, 30, 220, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, m, nil)
	data := withOrientation(b.Bytes(), 6)
	if o := jpegOrientation(data); o != 6 {
		t.Fatalf("read orientation %d", o)
	}
	pool := testenv.DB(t)
	s := NewService(replica.PrimaryOnly(pool))
	p, err := s.Create(t.Context(), ProductInput{SKU: "TURN-1", Name: "Tall Lamp", Brand: "Maru", Category: "Lighting", Price: 9900, Stock: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p, err = s.SetPicture(t.Context(), p.ID, PictureUpload{Data: data, Alt: "A tall lamp"}); err != nil {
		t.Fatal(err)
	}
	// Shown 800 wide and 1600 high: within 960, so kept at 800 × 1600.
	if pic := p.Picture; pic.LargeWidth != 800 || pic.LargeHeight != 1600 || pic.SmallWidth != 320 || pic.SmallHeight != 640 {
		t.Fatalf("sizes %+v", pic)
	}
	hash := string(p.Picture.Key)[:32]
	f, err := s.PictureFile(t.Context(), hash, SmallWidth, "jpg")
	if err != nil {
		t.Fatal(err)
	}
	small, err := jpeg.Decode(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatal(err)
	}
	top, bottom := small.At(160, 100), small.At(160, 540)
	if r, _, b, _ := top.RGBA(); r < b {
		t.Errorf("the top is not red: %v", top)
	}
	if r, _, b, _ := bottom.RGBA(); r > b {
		t.Errorf("the bottom is not blue: %v", bottom)
	}
}

func TestOrientTurnsEveryWay(t *testing.T) {
	// A 3×2 picture whose pixels are numbered by their red channel.
	m := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for y := range 2 {
		for x := range 3 {
			m.SetRGBA(x, y, color.RGBA{uint8(1 + x + 3*y), 0, 0, 255})
		}
	}
	// What each orientation shows, row by row: 1 2 3 / 4 5 6 stored.
	want := map[int][][]uint8{
		1: {{1, 2, 3}, {4, 5, 6}},
		2: {{3, 2, 1}, {6, 5, 4}},
		3: {{6, 5, 4}, {3, 2, 1}},
		4: {{4, 5, 6}, {1, 2, 3}},
		5: {{1, 4}, {2, 5}, {3, 6}},
		6: {{4, 1}, {5, 2}, {6, 3}},
		7: {{6, 3}, {5, 2}, {4, 1}},
		8: {{3, 6}, {2, 5}, {1, 4}},
	}
	for o, rows := range want {
		got := orient(m, o)
		for y, row := range rows {
			for x, v := range row {
				if r := got.RGBAAt(x, y).R; r != v {
					t.Errorf("orientation %d: (%d,%d) is %d, want %d", o, x, y, r, v)
				}
			}
		}
	}
}
