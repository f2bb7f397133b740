package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"

	"market/views"
)

// answer is one handler's reply in its three shapes (docs/HTTP.md): a full
// page, the fragment an HTMX request swaps, and JSON with the same facts.
type answer struct {
	Status   int             // 200 when zero
	Page     templ.Component // full page, inside its layout
	Fragment templ.Component // what HTMX swaps; when nil, the page's main content
	JSON     any             // what a JSON client gets
}

// wantsJSON: the client asked for JSON (scripts, load tests).
func wantsJSON(r *http.Request) bool { return accepts(r, "application/json") }

// accepts: the request's Accept mentions the media type (lower case): a
// substring test, enough for the types the shop serves. Media types are
// case-insensitive, and a client may send several Accept lines.
func accepts(r *http.Request, mediaType string) bool {
	return strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Accept"), ",")), mediaType)
}

// isPartial: an HTMX request that swaps part of a page. Boosted navigation and
// history restores need the whole page, or the back button shows a bare fragment.
func isPartial(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" &&
		r.Header.Get("HX-Boosted") == "" &&
		r.Header.Get("HX-History-Restore-Request") == ""
}

// render writes the answer in the shape the request asked for.
func (s *Server) render(w http.ResponseWriter, r *http.Request, a answer) error {
	w.Header().Set("Vary", "HX-Request, Accept")
	status := a.Status
	if status == 0 {
		status = http.StatusOK
	}
	if wantsJSON(r) {
		return writeJSON(w, status, a.JSON)
	}
	c, ctx := a.Page, r.Context()
	if isPartial(r) && a.Fragment != nil {
		c = a.Fragment
	} else if isPartial(r) {
		ctx = views.WithPartial(ctx) // the page's main content, without its layout
	}
	// Render into a buffer first so a template error is a clean 500, not half a page.
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// redirect answers a browser's POST with 303 to where it goes next, and an
// HTMX request with HX-Redirect so that htmx does a full navigation.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	if isPartial(r) {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
