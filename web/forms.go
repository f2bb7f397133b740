package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"market/internal/errs"
	"market/internal/money"
	"market/internal/text"
)

// form is a parsed POST body with helpers that collect field errors.
type form struct {
	values map[string]string
	fields errs.Fields
}

// parseForm reads an urlencoded or multipart body (1 MiB at most). A body
// over the limit is 413, anything unreadable 400-class invalid input.
func parseForm(r *http.Request) (*form, error) {
	// ParseMultipartForm runs ParseForm first: a urlencoded body is read
	// either way, and ErrNotMultipart only says it was not multipart.
	if err := r.ParseMultipartForm(maxBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errTooLarge
		}
		return nil, errs.New(errs.Invalid, "The form could not be read.")
	}
	return newForm(r.PostForm), nil
}

func newForm(v map[string][]string) *form {
	f := &form{values: make(map[string]string, len(v)), fields: errs.Fields{}}
	for k, vs := range v {
		if len(vs) > 0 {
			f.values[k] = vs[0]
		}
	}
	return f
}

// str returns a trimmed one-line field of at most max characters; see text.
func (f *form) str(name string, max int) string {
	return f.text(name, text.Options{Max: max})
}

// text returns a trimmed field that passes the one text rule (package text)
// under o. Every text a handler reads from a form or a query string comes
// through here. A refused value is noted under the field, named in the
// message, and read as "".
func (f *form) text(name string, o text.Options) string {
	v := strings.TrimSpace(f.values[name])
	if o.Label == "" {
		o.Label = "The field “" + name + "”"
	}
	if err := text.Check(v, o); err != nil {
		f.fields.Add(name, err.Error())
		return ""
	}
	return v
}

// int64 parses a whole number in [min, max]; empty counts as def when
// required is false. Thousands separators and won signs are tolerated
// because people paste "₩12,900".
func (f *form) int64(name string, min, max int64, required bool, def int64) int64 {
	raw := strings.TrimSpace(f.values[name])
	if raw == "" {
		if required {
			f.fields.Add(name, "This field is required.")
		}
		return def
	}
	n, err := parseWhole(raw)
	if err != nil {
		f.fields.Add(name, "Enter a whole number.")
		return def
	}
	if n < min || n > max {
		f.fields.Add(name, "Enter a number from "+money.Count(min)+" to "+money.Count(max)+".")
		return def
	}
	return n
}

// parseWhole parses a signed whole number, ignoring a ₩ after the sign and
// commas that group thousands ("-₩12,900"; not "₩-12,900" or "1,2").
func parseWhole(s string) (int64, error) {
	s = strings.TrimSpace(s)
	sign := ""
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		sign, s = s[:1], s[1:]
	}
	s = strings.TrimPrefix(s, "₩")
	if s == "" || len(s) > 27 || s[0] == '-' || s[0] == '+' {
		return 0, strconv.ErrSyntax
	}
	if strings.Contains(s, ",") {
		groups := strings.Split(s, ",")
		for i, g := range groups {
			if len(g) != 3 && (i > 0 || len(g) < 1 || len(g) > 3) {
				return 0, strconv.ErrSyntax
			}
		}
		s = strings.ReplaceAll(s, ",", "")
	}
	return strconv.ParseInt(sign+s, 10, 64)
}

func (f *form) err() error { return f.fields.Err() }

// errWith is the form's parse errors joined with what the domain's own
// rules (validate) say of the other fields, so that one submit names every
// field to fix; a field that did not parse keeps its own message. Nil when
// everything parsed: the service then judges the whole input itself.
func (f *form) errWith(validate func() error) error {
	if len(f.fields) == 0 {
		return nil
	}
	if e, ok := errs.As(validate()); ok {
		for field, msg := range e.Fields {
			f.fields.Add(field, msg)
		}
	}
	return f.err()
}

// pathID reads a positive numeric id from the route; anything else is a 404.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

// flag reads a checkbox or a boolean field: absent, "", "0" or "false" is
// false; "1", "true" or "on" is true; anything else is noted as an error.
func (f *form) flag(name, msg string) bool {
	switch f.values[name] {
	case "", "0", "false":
		return false
	case "1", "true", "on":
		return true
	}
	f.fields.Add(name, msg)
	return false
}
