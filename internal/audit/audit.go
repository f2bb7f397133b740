// Package audit is the trail of admin actions: one row per action, written
// by the domain service in the action's own transaction (Record), and the
// admin's list of them (Service.Entries).
package audit

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/reqctx"
)

// Kinds of audited things.
const (
	Campaign = "campaign"
	Product  = "product"
	Order    = "order"
	Shopper  = "shopper"
	Repair   = "repair"
)

// Kinds lists them, for the list's filter.
var Kinds = []string{Campaign, Product, Order, Shopper, Repair}

// Record writes one row for the action in q's transaction. The admin is the
// user of ctx's request; a step the shop takes by itself (no request user)
// is recorded with none. before and after are the subject's facts as JSON
// (nil: nothing, as before a creation).
func Record(ctx context.Context, q *db.Queries, kind, action, subject string, before, after any) error {
	var admin *int64
	if u, ok := reqctx.CurrentUser(ctx); ok {
		admin = &u.ID
	}
	b, err := jsonOrNil(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNil(after)
	if err != nil {
		return err
	}
	return q.InsertAudit(ctx, db.InsertAuditParams{AdminID: admin, Kind: kind, Action: action, Subject: subject, Before: b, After: a})
}

func jsonOrNil(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// Subject names one thing: "order 12".
func Subject(kind string, id int64) string { return kind + " " + strconv.FormatInt(id, 10) }

// PageSize is how many entries a page of the list shows.
const PageSize = 50

// Entry is one audited action.
type Entry struct {
	ID      int64           `json:"id"`
	AdminID *int64          `json:"admin_id"`
	Kind    string          `json:"kind"`
	Action  string          `json:"action"`
	Subject string          `json:"subject"`
	Before  json.RawMessage `json:"before"`
	After   json.RawMessage `json:"after"`
	At      time.Time       `json:"at"`
}

// Filter narrows the list; zero values do not filter. Until is exclusive.
type Filter struct {
	AdminID      int64
	Kind         string
	Since, Until *time.Time
	Before       int64 // the cursor: entries older than this id
}

// Service reads the trail.
type Service struct{ pool *pgxpool.Pool }

func NewService(pool *pgxpool.Pool) *Service { return &Service{pool: pool} }

// Entries is a page of the trail, newest first; next is the cursor of the
// page after it (0 on the last).
func (s *Service) Entries(ctx context.Context, f Filter) (entries []Entry, next int64, err error) {
	p := db.AuditEntriesParams{Lim: PageSize + 1, Since: f.Since, Until: f.Until}
	if f.Before > 0 {
		p.BeforeID = &f.Before
	}
	if f.AdminID > 0 {
		p.AdminID = &f.AdminID
	}
	v := errs.Fields{}
	v.Check(f.Kind == "" || slices.Contains(Kinds, f.Kind), "kind", "Choose campaign, product, order, shopper or repair.")
	v.Check(f.Since == nil || f.Until == nil || f.Since.Before(*f.Until), "to", "The end date must not be before the start date.")
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	if f.Kind != "" {
		p.Kind = &f.Kind
	}
	var rows []db.AuditLog
	err = db.ReadPlanned(ctx, s.pool, func(q *db.Queries) (err error) {
		rows, err = q.AuditEntries(ctx, p)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	for _, r := range rows[:min(len(rows), PageSize)] {
		entries = append(entries, Entry{ID: r.ID, AdminID: r.AdminID, Kind: r.Kind, Action: r.Action, Subject: r.Subject,
			Before: r.Before, After: r.After, At: r.CreatedAt})
	}
	if len(rows) > PageSize {
		next = rows[PageSize-1].ID
	}
	return entries, next, nil
}
