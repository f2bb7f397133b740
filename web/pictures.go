package web

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"market/internal/catalog"
	"market/internal/errs"
	"market/views"
)

// maxPictureBody is the body of a picture upload: the file at its largest
// plus room for the multipart framing and the alt text (docs/PICTURES.md).
const maxPictureBody = catalog.MaxPictureBytes + 64<<10

var (
	pictureUploadPath  = regexp.MustCompile(`^/admin/products/[0-9]+/image$`)
	errPictureTooLarge = errs.New(errs.TooLarge, "A picture can be 5 MB at most.")
)

// bodyLimit is the most a request's body may hold: 1 MiB, or a picture
// upload's own limit.
func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && pictureUploadPath.MatchString(r.URL.Path) {
		return maxPictureBody
	}
	return maxBody
}

// sessionless: a picture is the same for everyone and cached for a year,
// so its request needs no session (no Redis round trip, no cart badge).
func sessionless(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/images/")
}

// pictureName is /images/<hash>-<width>.<ext>.
var pictureName = regexp.MustCompile(`^([0-9a-f]{32})-([0-9]{1,4})\.(jpg|png)$`)

// picture serves one size of a product picture. Its URL names its content,
// so it never changes: cached for a year as immutable, and a browser that
// holds it gets 304 for its ETag.
func (s *Server) picture(w http.ResponseWriter, r *http.Request) error {
	m := pictureName.FindStringSubmatch(chi.URLParam(r, "name"))
	if m == nil {
		return errNotFound
	}
	hash, ext := m[1], m[3]
	width, _ := strconv.Atoi(m[2])
	etag := `"` + hash + "-" + m[2] + `"`
	h := w.Header()
	cached := func() {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", etag)
	}
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		known, err := s.Catalog.PictureKnown(r.Context(), hash, width, ext)
		if err != nil {
			return err
		}
		if known {
			cached()
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	f, err := s.Catalog.PictureFile(r.Context(), hash, width, ext)
	if err != nil {
		return err
	}
	cached()
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(f.Data)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, err = w.Write(f.Data)
	}
	return err
}

// etagMatches reads If-None-Match: a list of entity tags, weak or strong, or *.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

var errPictureForm = errs.New(errs.Invalid, "Send the picture as a multipart/form-data form with the fields image and alt.")

// readPictureForm reads the multipart fields image (the file) and alt. The
// body is bounded already (bodyLimit); the file is read to one byte past the
// limit, so that the service can tell a file that is too large.
func readPictureForm(r *http.Request) (catalog.PictureUpload, error) {
	var up catalog.PictureUpload
	mr, err := r.MultipartReader()
	if err != nil {
		return up, errPictureForm
	}
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return up, nil
		}
		if err != nil {
			return up, errPictureForm
		}
		name := part.FormName()
		if seen[name] { // a repeated field counts once, the first (docs/HTTP.md)
			continue
		}
		seen[name] = true
		switch name {
		case "image":
			up.Data, err = io.ReadAll(io.LimitReader(part, catalog.MaxPictureBytes+1))
		case "alt":
			var b []byte
			b, err = io.ReadAll(part)
			up.Alt = string(b)
		}
		if err != nil {
			return up, errPictureForm
		}
		_ = part.Close()
	}
}

// adminUploadPicture is POST /admin/products/{id}/image.
func (s *Server) adminUploadPicture(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	up, err := readPictureForm(r)
	var p catalog.Product
	if err == nil {
		up.ActorID = currentUser(r).ID
		p, err = s.Catalog.SetPicture(r.Context(), id, up)
	}
	if err != nil {
		vf, status, ok := formOf(err, map[string]string{"alt": up.Alt})
		if !ok || wantsJSON(r) {
			return err
		}
		cur, err := s.Catalog.Product(r.Context(), id)
		if err != nil {
			return err
		}
		return s.renderAdminProduct(w, r, cur, productForm(cur), views.Form{}, vf, status)
	}
	return s.productSaved(w, r, p, "The picture of “"+p.Name+"” is saved.")
}
