package web

import (
	"net/http"
	"net/url"
	"strconv"

	"market/internal/audit"
	"market/views"
)

// adminAudit is the trail of admin actions: by admin (id), kind and days,
// newest first, a page before the cursor.
func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r.URL.Query())
	flt := audit.Filter{AdminID: f.int64("admin", 1, 1<<62, false, 0), Kind: f.str("kind", 20),
		Before: f.int64("after", 1, 1<<62, false, 0)}
	flt.Since, flt.Until = f.days("from", "to")
	err := f.err()
	var entries []audit.Entry
	var next int64
	if err == nil {
		entries, next, err = s.Audit.Entries(r.Context(), flt)
	}
	if err != nil {
		return err
	}
	v := views.AuditView{Form: views.Form{Values: f.values}, Kinds: audit.Kinds}
	for _, e := range entries {
		row := views.AuditRow{When: views.When(e.At), Kind: e.Kind, Action: e.Action, Subject: e.Subject,
			Before: string(e.Before), After: string(e.After)}
		if e.AdminID != nil {
			row.Admin = "admin " + strconv.FormatInt(*e.AdminID, 10)
		}
		v.Entries = append(v.Entries, row)
	}
	cursor := ""
	if next > 0 {
		cursor = strconv.FormatInt(next, 10)
		q := url.Values{}
		for k, x := range f.values {
			if x != "" && k != "after" {
				q.Set(k, x)
			}
		}
		q.Set("after", cursor)
		v.Next = "/admin/audit?" + q.Encode()
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	return s.render(w, r, answer{Page: views.AuditPage(v), JSON: map[string]any{"entries": entries, "next_cursor": cursor}})
}
