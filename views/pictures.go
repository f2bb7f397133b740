package views

import (
	"market/internal/catalog"
)

// illustrated are the categories with an illustration of their own in
// static/illustrations (one per category of the demo shop); every other
// category shows generic.svg.
var illustrated = map[string]bool{
	"audio": true, "computers": true, "phones": true, "cameras": true, "appliances": true, "kitchen": true,
	"furniture": true, "fashion": true, "shoes": true, "beauty": true, "sports": true, "books": true,
}

// Illustration is the URL of a category's illustration, shown for a product
// without a picture.
func Illustration(categorySlug string) string {
	if !illustrated[categorySlug] {
		categorySlug = "generic"
	}
	return Asset("illustrations/" + categorySlug + ".svg")
}

// pictureSrcset offers both sizes of a picture; the browser picks by the
// width it will draw and the screen's density.
func pictureSrcset(k catalog.PictureKey, small, large int) string {
	return k.URL(catalog.SmallWidth) + " " + itoa(int64(small)) + "w, " + k.URL(catalog.LargeWidth) + " " + itoa(int64(large)) + "w"
}

// pictureAltValue fills the description field: what the admin typed when
// the form comes back refused, else the current picture's.
func pictureAltValue(v AdminProductView) string {
	if alt, ok := v.PictureForm.Values["alt"]; ok {
		return alt
	}
	if v.Picture != nil {
		return v.Picture.Alt
	}
	return ""
}
