package seed

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/catalog"
)

// DemoPictures is how many products of the demo shop get a picture: the most
// popular ones (the home shelf and the first pages of a search); the rest
// show their category's illustration.
const DemoPictures = 300

// Pictures gives the n most popular products without a picture one, drawn
// for their category in their colour, encoded as JPEG and stored through
// catalog's upload path (checked, sized and stored as an admin's would be).
func Pictures(ctx context.Context, pool *pgxpool.Pool, cat *catalog.Service, n int, out io.Writer) error {
	if n <= 0 {
		return nil
	}
	if out == nil {
		out = io.Discard
	}
	// products_popular_idx, walked backwards: a few hundred rows at any size.
	rows, err := pool.Query(ctx, `SELECT p.id, c.slug, p.name FROM products p JOIN categories c ON c.id = p.category_id
		WHERE p.image_key IS NULL ORDER BY p.popularity DESC, p.id DESC LIMIT $1`, n)
	if err != nil {
		return err
	}
	type todo struct {
		id         int64
		slug, name string
	}
	var work []todo
	for rows.Next() {
		var t todo
		if err := rows.Scan(&t.id, &t.slug, &t.name); err != nil {
			return err
		}
		work = append(work, t)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	progress := newProgress(out, "pictures", len(work))
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan todo)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for t := range next {
				data, alt := drawProduct(t.id, t.slug, t.name)
				_, err := cat.SetPicture(ctx, t.id, catalog.PictureUpload{Data: data, Alt: alt})
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("picture of product %d: %w", t.id, err)
				}
				progress.add(1)
				mu.Unlock()
			}
		})
	}
	for _, t := range work {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- t
	}
	close(next)
	wg.Wait()
	progress.done()
	return first
}

// The size the pictures are drawn at: the shop keeps it as the large size.
const drawW, drawH = 800, 600

// productColours are the colours of the generated names (names.go).
var productColours = map[string]color.RGBA{
	"Black": {34, 36, 40, 255}, "White": {236, 236, 232, 255}, "Navy": {32, 52, 102, 255}, "Sand": {205, 180, 140, 255},
	"Forest Green": {38, 92, 60, 255}, "Charcoal": {62, 66, 72, 255}, "Sky Blue": {110, 170, 225, 255},
	"Coral": {240, 120, 100, 255}, "Ivory": {242, 234, 214, 255}, "Graphite": {84, 88, 96, 255},
}

// things name what each category's drawing shows, for its alt text.
var things = map[string]string{
	"audio": "headphones", "computers": "a laptop", "phones": "a smartphone", "cameras": "a camera", "appliances": "an air purifier",
	"kitchen": "a cooking pot", "furniture": "an armchair", "fashion": "a T-shirt", "shoes": "a sneaker", "beauty": "a cosmetics bottle and jar",
	"sports": "a dumbbell", "books": "a stack of books",
}

// grounds are the categories' background tints.
var grounds = map[string]color.RGBA{
	"audio": {222, 230, 250, 255}, "computers": {218, 238, 234, 255}, "phones": {234, 226, 248, 255}, "cameras": {250, 232, 218, 255},
	"appliances": {216, 236, 246, 255}, "kitchen": {250, 226, 226, 255}, "furniture": {244, 236, 220, 255}, "fashion": {250, 226, 238, 255},
	"shoes": {226, 242, 220, 255}, "beauty": {252, 232, 226, 255}, "sports": {218, 240, 236, 255}, "books": {228, 232, 246, 255},
}

// drawProduct draws a product of the category in the colour its name
// carries, varied by its id, and returns the JPEG and its alt text.
func drawProduct(id int64, slug, name string) ([]byte, string) {
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	colourName := "Graphite" // for a name without one of the seed's colours
	for _, n := range colours {
		if strings.Contains(name, " "+n) {
			colourName = n
			break
		}
	}
	body := productColours[colourName]
	ground, ok := grounds[slug]
	if !ok {
		ground = color.RGBA{232, 234, 238, 255}
	}
	c := newCanvas(ground, rng)
	accent := shade(body, 0.55)
	if luma(body) < 110 {
		accent = tint(body, 0.45)
	}
	dark := shade(body, 0.35)
	// A little play in position and size, so two products of a kind differ.
	c.ox, c.oy, c.k = rng.Float64()*60-30, rng.Float64()*30-15, 0.9+rng.Float64()*0.2
	c.ellipse(400, 500, 250, 26, color.RGBA{0, 0, 0, 255}, 0.12) // the shadow it stands on
	draw, ok := shapes[slug]
	if !ok {
		draw = drawAny
	}
	draw(c, palette{body: body, accent: accent, dark: dark, ground: ground})
	var b bytes.Buffer
	_ = jpeg.Encode(&b, c.m, &jpeg.Options{Quality: 85})
	thing := things[slug]
	if thing == "" {
		thing = "a product"
	}
	return b.Bytes(), fmt.Sprintf("A drawing of %s in %s", thing, strings.ToLower(colourName))
}

// palette is the colours of one product's drawing: its body, an accent, a
// dark shade of the body, and the category's ground.
type palette struct{ body, accent, dark, ground color.RGBA }

// shapes draw each category's product, centred in the 800×600 frame, in
// the product's colours (drawProduct).
var shapes = map[string]func(c *canvas, p palette){
	"audio": func(c *canvas, p palette) {
		c.arc(400, 300, 150, 30, p.dark)
		c.roundRect(255, 340, 100, 170, 44, p.body)
		c.roundRect(545, 340, 100, 170, 44, p.body)
		c.roundRect(282, 340, 30, 120, 14, p.accent)
		c.roundRect(518, 340, 30, 120, 14, p.accent)
	},
	"computers": func(c *canvas, p palette) {
		c.roundRect(400, 270, 440, 290, 18, p.dark)
		c.roundRect(400, 265, 400, 250, 8, tint(p.ground, 0.5))
		c.roundRect(340, 240, 160, 110, 6, p.accent)
		c.roundRect(400, 435, 560, 36, 16, p.body)
	},
	"phones": func(c *canvas, p palette) {
		c.roundRect(400, 300, 230, 440, 40, p.dark)
		c.roundRect(400, 300, 200, 390, 24, p.accent)
		c.circle(400, 120, 8, p.body)
		c.roundRect(400, 240, 120, 120, 60, tint(p.accent, 0.4))
	},
	"cameras": func(c *canvas, p palette) {
		c.roundRect(330, 190, 140, 70, 14, p.dark)
		c.roundRect(400, 320, 460, 270, 32, p.body)
		c.circle(400, 330, 110, p.dark)
		c.circle(400, 330, 82, p.accent)
		c.circle(400, 330, 48, p.dark)
		c.circle(380, 310, 12, tint(p.accent, 0.6))
		c.roundRect(560, 230, 50, 26, 8, p.accent)
	},
	"appliances": func(c *canvas, p palette) {
		c.roundRect(400, 290, 250, 440, 56, p.body)
		c.circle(400, 210, 84, p.dark)
		c.circle(400, 210, 60, p.accent)
		for i := range 4 {
			c.roundRect(400, 340+float64(i)*34, 170, 12, 6, p.dark)
		}
	},
	"kitchen": func(c *canvas, p palette) {
		c.roundRect(400, 360, 420, 230, 44, p.body)
		c.roundRect(400, 250, 460, 34, 17, p.dark)
		c.roundRect(170, 300, 70, 24, 12, p.dark)
		c.roundRect(630, 300, 70, 24, 12, p.dark)
		c.roundRect(400, 220, 60, 30, 12, p.dark)
		c.roundRect(400, 340, 340, 14, 7, p.accent)
	},
	"furniture": func(c *canvas, p palette) {
		c.roundRect(400, 250, 300, 200, 36, p.body)
		c.roundRect(400, 360, 300, 90, 26, p.accent)
		c.roundRect(250, 340, 70, 180, 30, p.body)
		c.roundRect(550, 340, 70, 180, 30, p.body)
		c.roundRect(275, 455, 16, 50, 6, p.dark)
		c.roundRect(525, 455, 16, 50, 6, p.dark)
	},
	"fashion": func(c *canvas, p palette) {
		c.roundRect(400, 320, 270, 330, 24, p.body)
		c.roundRect(270, 230, 150, 110, 30, p.body)
		c.roundRect(530, 230, 150, 110, 30, p.body)
		c.circle(400, 150, 56, c.groundAt(400, 150))
		c.arc(400, 150, 58, 12, p.accent)
		c.roundRect(455, 290, 44, 50, 6, p.accent)
	},
	"shoes": func(c *canvas, p palette) {
		sole := color.RGBA{246, 244, 238, 255}
		c.roundRect(400, 440, 512, 52, 24, p.dark)
		c.roundRect(400, 436, 500, 40, 20, sole)
		c.roundRect(250, 335, 170, 170, 56, p.body) // the heel and ankle
		c.roundRect(410, 385, 470, 104, 48, p.body)
		c.roundRect(580, 400, 120, 70, 35, p.accent) // the toe cap
		c.roundRect(250, 268, 110, 24, 12, p.dark)   // the collar
		c.roundRect(380, 402, 260, 16, 8, p.accent)
		for i := range 4 {
			c.roundRect(310+float64(i)*40, 340+float64(i)*6, 30, 9, 4.5, sole)
		}
	},
	"beauty": func(c *canvas, p palette) {
		c.roundRect(320, 190, 90, 70, 14, p.dark)
		c.roundRect(320, 340, 170, 270, 44, p.body)
		c.roundRect(320, 340, 110, 110, 18, p.accent)
		c.roundRect(520, 420, 170, 110, 30, p.accent)
		c.roundRect(520, 355, 180, 40, 16, p.dark)
	},
	"sports": func(c *canvas, p palette) {
		c.roundRect(400, 300, 380, 26, 13, p.dark)
		c.roundRect(240, 300, 60, 230, 18, p.body)
		c.roundRect(560, 300, 60, 230, 18, p.body)
		c.roundRect(190, 300, 44, 160, 14, p.accent)
		c.roundRect(610, 300, 44, 160, 14, p.accent)
	},
	"books": func(c *canvas, p palette) {
		c.roundRect(400, 430, 420, 70, 10, p.body)
		c.roundRect(400, 430, 380, 18, 6, tint(p.body, 0.8))
		c.roundRect(385, 355, 380, 66, 10, p.accent)
		c.roundRect(385, 355, 340, 16, 6, tint(p.accent, 0.8))
		c.roundRect(410, 285, 340, 62, 10, p.dark)
		c.roundRect(410, 285, 300, 14, 6, tint(p.dark, 0.8))
	},
}

// drawAny is the drawing of a product of a category without a shape of its own.
func drawAny(c *canvas, p palette) {
	c.roundRect(400, 320, 300, 300, 26, p.body)
	c.arc(400, 180, 80, 20, p.dark)
}

// canvas paints shapes given as signed distance functions, anti-aliased by
// their distance to the edge, in an 800×600 frame offset and scaled by (ox,
// oy, k) about its centre.
type canvas struct {
	m         *image.RGBA
	ox, oy, k float64
	ground    color.RGBA
}

func newCanvas(ground color.RGBA, rng *rand.Rand) *canvas {
	m := image.NewRGBA(image.Rect(0, 0, drawW, drawH))
	top, bottom := tint(ground, 0.35), ground
	for y := range drawH {
		t := float64(y) / drawH
		col := mix(top, bottom, t)
		for x := range drawW {
			m.SetRGBA(x, y, col)
		}
	}
	c := &canvas{m: m, k: 1, ground: ground}
	// Soft circles behind the product, as a studio backdrop has.
	for range 4 {
		c.circle(rng.Float64()*drawW, rng.Float64()*drawH*0.6, 40+rng.Float64()*90, tint(ground, 0.6))
	}
	return c
}

func (c *canvas) groundAt(x, y float64) color.RGBA {
	return c.m.RGBAAt(int(c.ox+400+(x-400)*c.k), int(c.oy+300+(y-300)*c.k))
}

// paint blends col over the pixels within r of (cx, cy) (in frame units)
// where sdf, in frame units, is below zero.
func (c *canvas) paint(cx, cy, r float64, col color.RGBA, alpha float64, sdf func(x, y float64) float64) {
	x0, x1 := int(c.ox+400+(cx-r-400)*c.k)-1, int(c.ox+400+(cx+r-400)*c.k)+2
	y0, y1 := int(c.oy+300+(cy-r-300)*c.k)-1, int(c.oy+300+(cy+r-300)*c.k)+2
	b := c.m.Bounds()
	for py := max(y0, b.Min.Y); py < min(y1, b.Max.Y); py++ {
		for px := max(x0, b.Min.X); px < min(x1, b.Max.X); px++ {
			// back to frame units
			x := (float64(px)+0.5-c.ox-400)/c.k + 400
			y := (float64(py)+0.5-c.oy-300)/c.k + 300
			cov := math.Min(1, math.Max(0, 0.5-sdf(x, y)*c.k)) * alpha
			if cov <= 0 {
				continue
			}
			under := c.m.RGBAAt(px, py)
			c.m.SetRGBA(px, py, mix(under, col, cov))
		}
	}
}

func (c *canvas) circle(cx, cy, r float64, col color.RGBA) {
	c.paint(cx, cy, r, col, 1, func(x, y float64) float64 { return dist(x-cx, y-cy) - r })
}

// arc is the upper half of a ring of radius r and thickness t.
func (c *canvas) arc(cx, cy, r, t float64, col color.RGBA) {
	c.paint(cx, cy, r+t, col, 1, func(x, y float64) float64 {
		return math.Max(math.Abs(dist(x-cx, y-cy)-r)-t/2, y-cy)
	})
}

func (c *canvas) ellipse(cx, cy, rx, ry float64, col color.RGBA, alpha float64) {
	c.paint(cx, cy, math.Max(rx, ry), col, alpha, func(x, y float64) float64 {
		return (dist((x-cx)/rx, (y-cy)/ry) - 1) * math.Min(rx, ry)
	})
}

// roundRect is a w×h rectangle centred on (cx, cy) with corners of radius r.
func (c *canvas) roundRect(cx, cy, w, h, r float64, col color.RGBA) {
	c.paint(cx, cy, math.Max(w, h)/2+1, col, 1, func(x, y float64) float64 {
		qx, qy := math.Abs(x-cx)-w/2+r, math.Abs(y-cy)-h/2+r
		return dist(math.Max(qx, 0), math.Max(qy, 0)) + math.Min(math.Max(qx, qy), 0) - r
	})
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	f := func(x, y uint8) uint8 { return uint8(float64(x) + (float64(y)-float64(x))*t + 0.5) }
	return color.RGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 255}
}

func tint(c color.RGBA, t float64) color.RGBA  { return mix(c, color.RGBA{255, 255, 255, 255}, t) }
func shade(c color.RGBA, t float64) color.RGBA { return mix(c, color.RGBA{0, 0, 0, 255}, t) }
func luma(c color.RGBA) float64                { return 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B) }

// dist is math.Hypot without its care for overflow, which these small
// numbers never need and which costs a third of the drawing.
func dist(x, y float64) float64 { return math.Sqrt(x*x + y*y) }
