package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"market/internal/audit"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/text"
)

// The rules of a product picture (docs/PICTURES.md).
const (
	// MaxPictureBytes is the largest file an admin may upload: 5 MiB.
	MaxPictureBytes = 5 << 20
	// A picture's dimensions are read from its header and refused before
	// anything is decoded: a few kilobytes can claim 60,000 × 60,000 pixels,
	// which would take gigabytes to decode.
	maxPictureSide   = 6000
	maxPicturePixels = 24_000_000
	// The two sizes the shop shows: cards and small screens, and the
	// product page. A narrower original keeps its own width.
	LargeWidth  = 960
	SmallWidth  = 320
	maxAlt      = 200
	jpegQuality = 82
	// decodeBudget bounds the pixels decoded at once in this process (two
	// of the largest pictures, or many small ones), and with it the memory
	// uploads can take.
	decodeBudget = 2 * maxPicturePixels
)

// AltText is the text rule of a picture's description (package text).
var AltText = text.Options{Label: "The picture's description", Max: maxAlt}

// Error codes of a refused picture; the web layer maps them to statuses.
const (
	// CodeUnsupportedPicture: the file is not a JPEG, PNG or WebP (415).
	CodeUnsupportedPicture errs.Code = "unsupported_picture"
	// CodePictureUnreadable: it claims to be one but cannot be read (422).
	CodePictureUnreadable errs.Code = "picture_unreadable"
	// CodePictureDimensions: too many pixels (422).
	CodePictureDimensions errs.Code = "picture_too_many_pixels"
)

// PictureKey names a product's picture as its URLs do: the hash and the
// extension of its sizes, "9f86…a015.jpg"; empty without a picture. In JSON
// it is the URL of the large size (image_url), or null.
type PictureKey string

// PictureKeyOf reads a nullable products.image_key.
func PictureKeyOf(k *string) PictureKey {
	if k == nil {
		return ""
	}
	return PictureKey(*k)
}

// URL is where one size of the picture is served ("" without a picture):
// /images/<hash>-<width>.<ext>, width LargeWidth or SmallWidth.
func (k PictureKey) URL(width int) string {
	hash, ext, ok := strings.Cut(string(k), ".")
	if !ok {
		return ""
	}
	return "/images/" + hash + "-" + strconv.Itoa(width) + "." + ext
}

func (k PictureKey) MarshalJSON() ([]byte, error) {
	if k == "" {
		return []byte("null"), nil
	}
	return json.Marshal(k.URL(LargeWidth))
}

// UnmarshalJSON reads back what MarshalJSON wrote (scripts and the
// benchmarks decode answers into Item).
func (k *PictureKey) UnmarshalJSON(b []byte) error {
	var u *string
	if err := json.Unmarshal(b, &u); err != nil {
		return err
	}
	*k = ""
	if u == nil {
		return nil
	}
	name, ok := strings.CutPrefix(*u, "/images/")
	hash, rest, ok2 := strings.Cut(name, "-")
	_, ext, ok3 := strings.Cut(rest, ".")
	if !ok || !ok2 || !ok3 {
		return errors.New("image_url: not a picture URL: " + *u)
	}
	*k = PictureKey(hash + "." + ext)
	return nil
}

// Picture is the picture of a product page: its text and the dimensions of
// its two sizes (for width and height, so the page does not move as it loads).
type Picture struct {
	Key                     PictureKey
	Alt                     string
	LargeWidth, LargeHeight int
	SmallWidth, SmallHeight int
}

// PictureFile is one size of a picture, as the image route serves it.
type PictureFile struct {
	ContentType string
	Data        []byte
}

// PictureUpload is an admin's picture for a product.
type PictureUpload struct {
	Data    []byte // the file, as uploaded
	Alt     string // what the picture shows, for people who cannot see it
	ActorID int64
}

const msgPictureTooBig = "This file is over 5 MB. Upload a smaller picture."

// format is a picture format the shop takes, recognised by the file's
// first bytes, never by its name or declared type.
type format struct {
	mime         string
	magic        func([]byte) bool
	decodeConfig func(*bytes.Reader) (image.Config, error)
	decode       func(*bytes.Reader) (image.Image, error)
}

var formats = []format{
	{"image/jpeg", func(b []byte) bool { return bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) },
		func(r *bytes.Reader) (image.Config, error) { return jpeg.DecodeConfig(r) },
		func(r *bytes.Reader) (image.Image, error) { return jpeg.Decode(r) }},
	{"image/png", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) },
		func(r *bytes.Reader) (image.Config, error) { return png.DecodeConfig(r) },
		func(r *bytes.Reader) (image.Image, error) { return png.Decode(r) }},
	{"image/webp", func(b []byte) bool { return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP" },
		func(r *bytes.Reader) (image.Config, error) { return webp.DecodeConfig(r) },
		func(r *bytes.Reader) (image.Image, error) { return webp.Decode(r) }},
}

// sniff returns the format the file's content says it is, if the shop takes it.
func sniff(b []byte) (format, bool) {
	for _, f := range formats {
		if f.magic(b) {
			return f, true
		}
	}
	return format{}, false
}

// checkPicture validates an upload without decoding its pixels: its text,
// its size in bytes, its format by content and its dimensions by header.
func checkPicture(up *PictureUpload) (format, image.Config, error) {
	up.Alt = strings.TrimSpace(up.Alt)
	f := errs.Fields{}
	if err := text.Check(up.Alt, AltText); err != nil {
		f.Add("alt", err.Error())
	}
	f.Check(up.Alt != "", "alt", "Describe the picture in a few words (1 to 200 characters) for people who cannot see it.")
	refuse := func(code errs.Code, msg string) error {
		f["image"] = msg
		return &errs.Error{Code: code, Message: msg, Fields: f}
	}
	if len(up.Data) > MaxPictureBytes {
		return format{}, image.Config{}, refuse(errs.TooLarge, msgPictureTooBig)
	}
	if len(up.Data) == 0 {
		f.Add("image", "Choose a picture to upload (JPEG, PNG or WebP).")
		return format{}, image.Config{}, f.Err()
	}
	ft, ok := sniff(up.Data)
	if !ok {
		return format{}, image.Config{}, refuse(CodeUnsupportedPicture,
			"This file is not a JPEG, PNG or WebP picture. Other kinds of file, SVG included, are not accepted.")
	}
	cfg, err := ft.decodeConfig(bytes.NewReader(up.Data))
	if err != nil {
		return format{}, image.Config{}, refuse(CodePictureUnreadable, "This picture is damaged or incomplete and cannot be read.")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxPictureSide || cfg.Height > maxPictureSide ||
		int64(cfg.Width)*int64(cfg.Height) > maxPicturePixels {
		return format{}, image.Config{}, refuse(CodePictureDimensions, "This picture is "+strconv.Itoa(cfg.Width)+" × "+strconv.Itoa(cfg.Height)+
			" pixels; it can be at most 6,000 pixels a side and 24 megapixels in all.")
	}
	return ft, cfg, f.Err()
}

// sized is a picture prepared for storage: the original and its two sizes.
type sized struct {
	hash, sizedType string
	large, small    []byte
	lw, lh, sw, sh  int
}

// prepare decodes a checked picture and makes its two sizes. The pixels
// decoded at once are bounded by s.decoding.
func (s *Service) prepare(ctx context.Context, up PictureUpload, ft format, cfg image.Config) (sized, error) {
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if err := s.decoding.Acquire(ctx, pixels); err != nil {
		return sized{}, err
	}
	defer s.decoding.Release(pixels)
	img, err := ft.decode(bytes.NewReader(up.Data))
	if err != nil {
		return sized{}, &errs.Error{Code: CodePictureUnreadable, Message: "This picture is damaged or incomplete and cannot be read.",
			Fields: map[string]string{"image": "This picture is damaged or incomplete and cannot be read."}}
	}
	// The large size is at most LargeWidth wide as shown, after turning.
	o := 1
	if ft.mime == "image/jpeg" {
		o = jpegOrientation(up.Data)
	}
	shownW := cfg.Width
	if swapsAxes(o) {
		shownW = cfg.Height
	}
	large := resize(img, max(1, int(math.Round(float64(cfg.Width)*min(1, float64(LargeWidth)/float64(shownW))))))
	large = orient(large, o)
	small := resize(large, SmallWidth)
	// Transparency needs PNG; everything else is smaller as JPEG.
	encode := func(m image.Image) ([]byte, error) {
		var b bytes.Buffer
		err := jpeg.Encode(&b, m, &jpeg.Options{Quality: jpegQuality})
		return b.Bytes(), err
	}
	out := sized{sizedType: "image/jpeg"}
	if !opaque(img) {
		out.sizedType = "image/png"
		encode = func(m image.Image) ([]byte, error) {
			var b bytes.Buffer
			err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, m)
			return b.Bytes(), err
		}
	}
	if out.large, err = encode(large); err != nil {
		return sized{}, err
	}
	if out.small, err = encode(small); err != nil {
		return sized{}, err
	}
	sum := sha256.Sum256(up.Data)
	out.hash = hex.EncodeToString(sum[:16])
	out.lw, out.lh = large.Bounds().Dx(), large.Bounds().Dy()
	out.sw, out.sh = small.Bounds().Dx(), small.Bounds().Dy()
	return out, nil
}

// ext is the extension of the sizes' URLs for their type.
func ext(sizedType string) string {
	if sizedType == "image/png" {
		return "png"
	}
	return "jpg"
}

func opaque(m image.Image) bool {
	if o, ok := m.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// resize scales m to width w (keeping its proportions), or copies it when
// it is no wider. A large source is first brought to twice the width with a
// cheap filter: Catmull-Rom keeps a float row per destination column for
// every source row, which for a 6,000-pixel-high source would be ~120 MB.
func resize(m image.Image, w int) *image.RGBA {
	b := m.Bounds()
	if b.Dx() <= w {
		dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(dst, dst.Bounds(), m, b.Min, draw.Src)
		return dst
	}
	height := func(w int) int { return max(1, int(math.Round(float64(b.Dy())*float64(w)/float64(b.Dx())))) }
	if b.Dx() > 2*w {
		mid := image.NewRGBA(image.Rect(0, 0, 2*w, height(2*w)))
		draw.ApproxBiLinear.Scale(mid, mid.Bounds(), m, b, draw.Src, nil)
		m, b = mid, mid.Bounds()
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, height(w)))
	draw.CatmullRom.Scale(dst, dst.Bounds(), m, b, draw.Src, nil)
	return dst
}

// SetPicture checks an upload, makes its sizes and stores them as the
// product's picture, replacing the one before in one transaction. Anything
// refused changes nothing.
func (s *Service) SetPicture(ctx context.Context, productID int64, up PictureUpload) (Product, error) {
	if exists, err := s.q.ProductExists(ctx, productID); err != nil {
		return Product{}, err
	} else if !exists {
		return Product{}, errNoProduct
	}
	ft, cfg, err := checkPicture(&up)
	if err != nil {
		return Product{}, err
	}
	p, err := s.prepare(ctx, up, ft, cfg)
	if err != nil {
		return Product{}, err
	}
	key := p.hash + "." + ext(p.sizedType)
	err = db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		if _, err := q.SetProductImageKey(ctx, db.SetProductImageKeyParams{ID: productID, ImageKey: &key}); errors.Is(err, pgx.ErrNoRows) {
			return errNoProduct // deleted while the sizes were made
		} else if err != nil {
			return err
		}
		var actor *int64
		if up.ActorID > 0 {
			actor = &up.ActorID
		}
		if err := q.UpsertPicture(ctx, db.UpsertPictureParams{ProductID: productID, Hash: p.hash, Alt: up.Alt, OriginalType: ft.mime,
			Original: up.Data, Width: int32(cfg.Width), Height: int32(cfg.Height), SizedType: p.sizedType,
			Large: p.large, LargeWidth: int32(p.lw), LargeHeight: int32(p.lh), Small: p.small, SmallWidth: int32(p.sw), SmallHeight: int32(p.sh),
			UploadedBy: actor}); err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Product, "picture", audit.Subject("product", productID), nil,
			map[string]any{"picture": key, "alt": up.Alt, "width": cfg.Width, "height": cfg.Height})
	})
	if err != nil {
		return Product{}, err
	}
	return product(ctx, s.q, productID)
}

// PictureFile returns one size of a picture by its URL's name: hash, width
// (LargeWidth or SmallWidth) and extension. Anything else is not found.
func (s *Service) PictureFile(ctx context.Context, hash string, width int, extension string) (PictureFile, error) {
	if !validHash(hash) || (width != LargeWidth && width != SmallWidth) {
		return PictureFile{}, errNoPicture
	}
	r, err := s.q.PictureFile(ctx, db.PictureFileParams{Hash: hash, Large: width == LargeWidth})
	if errors.Is(err, pgx.ErrNoRows) || err == nil && ext(r.SizedType) != extension {
		return PictureFile{}, errNoPicture
	} else if err != nil {
		return PictureFile{}, err
	}
	return PictureFile{ContentType: r.SizedType, Data: r.Data}, nil
}

// PictureKnown says whether a picture's size exists, without reading it
// (for a conditional request that already holds it).
func (s *Service) PictureKnown(ctx context.Context, hash string, width int, extension string) (bool, error) {
	if !validHash(hash) || (width != LargeWidth && width != SmallWidth) {
		return false, nil
	}
	t, err := s.q.PictureKnown(ctx, hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil && ext(t) == extension, err
}

// PictureAlts returns the pictures' descriptions of the given products
// (those that have a picture), for a page of cards.
func (s *Service) PictureAlts(ctx context.Context, productIDs []int64) (map[int64]string, error) {
	rows, err := read(ctx, s, func(q *db.Queries) ([]db.PictureAltsRow, error) { return q.PictureAlts(ctx, productIDs) })
	if err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.ProductID] = r.Alt
	}
	return out, nil
}

var errNoPicture = errs.New(errs.NotFound, "We could not find that picture.")

func validHash(h string) bool {
	if len(h) != 32 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
