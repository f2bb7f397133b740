package seed

import (
	"strings"
	"testing"

	"market/internal/catalog"
	"market/internal/replica"
	"market/internal/testenv"
)

// The demo's pictures go to the most popular products, through the upload's
// own path, and a second run draws for other products only.
func TestPicturesGoToTheMostPopularProductsThroughTheUploadPath(t *testing.T) {
	pool := testenv.DB(t)
	if err := Products(t.Context(), pool, 40, nil); err != nil {
		t.Fatal(err)
	}
	cat := catalog.NewService(replica.PrimaryOnly(pool))
	if err := Pictures(t.Context(), pool, cat, 6, nil); err != nil {
		t.Fatal(err)
	}
	var pictured, popular int64
	if err := pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM product_pictures pp JOIN products p ON p.id = pp.product_id AND p.image_key = pp.hash || '.jpg'),
		(SELECT count(*) FROM (SELECT id FROM products ORDER BY popularity DESC, id DESC LIMIT 6) top
		 JOIN product_pictures pp ON pp.product_id = top.id)`).Scan(&pictured, &popular); err != nil {
		t.Fatal(err)
	}
	if pictured != 6 || popular != 6 {
		t.Fatalf("%d pictures named by their products, %d of them on the 6 most popular", pictured, popular)
	}
	p, err := cat.Featured(t.Context(), 1)
	if err != nil || len(p) == 0 {
		t.Fatal(err)
	}
	full, err := cat.Product(t.Context(), p[0].ID)
	if err != nil || full.Picture == nil || !strings.HasPrefix(full.Picture.Alt, "A drawing of ") ||
		full.Picture.LargeWidth != drawW || full.Picture.SmallWidth != catalog.SmallWidth {
		t.Fatalf("the most popular product's picture: %+v %v", full.Picture, err)
	}
	if err := Pictures(t.Context(), pool, cat, 4, nil); err != nil {
		t.Fatal(err)
	}
	var n int64
	_ = pool.QueryRow(t.Context(), "SELECT count(*) FROM product_pictures").Scan(&n)
	if n != 10 {
		t.Fatalf("%d pictures after a second run of 4, want 10", n)
	}
}
