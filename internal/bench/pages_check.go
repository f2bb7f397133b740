package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/audit"
	"market/internal/order"
)

// pageCheck compares a page's JSON with what the bench's own SQL finds,
// and names the difference ("" when right).
type pageCheck func(ctx context.Context, tools *pgxpool.Pool, body []byte) string

// checkPages asks for every drawn page again as JSON, untimed, and checks it.
func checkPages(ctx context.Context, tools *pgxpool.Pool, shop *pagesShop, plan *pagesPlan) []string {
	var faults []string
	for _, r := range plan.requests {
		status, body, _, err := shop.get(ctx, r.path, r.cookie, true)
		switch {
		case err != nil:
			faults = append(faults, fmt.Sprintf("%s %s (JSON): transport: %v", r.kind, r.path, err))
		case status != http.StatusOK:
			faults = append(faults, fmt.Sprintf("%s %s (JSON): status %d: %.200s", r.kind, r.path, status, body))
		default:
			if f := r.check(ctx, tools, body); f != "" {
				faults = append(faults, fmt.Sprintf("%s %s: %s", r.kind, r.path, f))
			}
		}
	}
	return faults
}

// expectIDs runs the bench's own query for a page's ids (the simple
// protocol: each run planned for its own arguments) and compares them
// with got, in order.
func expectIDs(ctx context.Context, tools *pgxpool.Pool, got []int64, sql string, args ...any) string {
	rows, err := tools.Query(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		return "the bench's own query failed: " + err.Error()
	}
	want, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return "the bench's own query failed: " + err.Error()
	}
	if !slices.Equal(got, want) {
		return fmt.Sprintf("ids %v, want %v", head(got), head(want))
	}
	return ""
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 6)] }

// checkAdminOrders: the first page of the admin list, newest first
// (created_at, then id), with the filter's orders only.
func checkAdminOrders(f order.Filter) pageCheck {
	var status, email *string
	var id *int64
	if f.Status != "" {
		status = &f.Status
	}
	if f.Email != "" {
		email = &f.Email
	}
	if f.OrderID > 0 {
		id = &f.OrderID
	}
	return func(ctx context.Context, tools *pgxpool.Pool, body []byte) string {
		var a struct {
			Orders []struct {
				ID    int64  `json:"id"`
				Email string `json:"email"`
			} `json:"orders"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return "not the JSON of an order list: " + err.Error()
		}
		got := make([]int64, len(a.Orders))
		for i, o := range a.Orders {
			got[i] = o.ID
		}
		return expectIDs(ctx, tools, got, `SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id
			WHERE ($1::text IS NULL OR o.status = $1) AND ($2::text IS NULL OR u.email = $2)
			  AND ($3::timestamptz IS NULL OR o.created_at >= $3) AND ($4::timestamptz IS NULL OR o.created_at < $4)
			  AND ($5::bigint IS NULL OR o.id = $5)
			ORDER BY o.created_at DESC, o.id DESC LIMIT $6`, status, email, f.From, f.Before, id, order.MaxPage)
	}
}

// checkAdminOrder: the order, its shopper, lines and ledger rows.
func checkAdminOrder(x sampleOrder) pageCheck {
	return func(_ context.Context, _ *pgxpool.Pool, body []byte) string {
		var a struct {
			ID     int64             `json:"id"`
			UserID int64             `json:"user_id"`
			Email  string            `json:"email"`
			Items  []json.RawMessage `json:"items"`
			Ledger []json.RawMessage `json:"ledger"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return "not the JSON of an order: " + err.Error()
		}
		if a.ID != x.id || a.UserID != x.userID || a.Email != x.email || len(a.Items) == 0 || len(a.Ledger) == 0 {
			return fmt.Sprintf("order %d of %d (%s) with %d lines and %d ledger rows, want order %d of %d (%s) with lines and ledger rows",
				a.ID, a.UserID, a.Email, len(a.Items), len(a.Ledger), x.id, x.userID, x.email)
		}
		return ""
	}
}

// checkShopperSearch: shoppers whose email or lower-cased name starts with
// q, newest first, after the cursor.
func checkShopperSearch(q, after string) pageCheck {
	before := int64(math.MaxInt64)
	if after != "" {
		fmt.Sscan(after, &before)
	}
	return func(ctx context.Context, tools *pgxpool.Pool, body []byte) string {
		var a struct {
			Shoppers []struct {
				ID int64 `json:"id"`
			} `json:"shoppers"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return "not the JSON of a shopper list: " + err.Error()
		}
		got := make([]int64, len(a.Shoppers))
		for i, s := range a.Shoppers {
			got[i] = s.ID
		}
		return expectIDs(ctx, tools, got, `SELECT id FROM users WHERE role = 'shopper' AND id < $2
			AND (starts_with(email, $1) OR starts_with(lower(name), $1)) ORDER BY id DESC LIMIT 50`, q, before)
	}
}

// checkAdminShopper: the shopper and their newest page of orders.
func checkAdminShopper(s sampleShopper) pageCheck {
	return func(ctx context.Context, tools *pgxpool.Pool, body []byte) string {
		var a struct {
			ID     int64  `json:"id"`
			Email  string `json:"email"`
			Orders []struct {
				ID int64 `json:"id"`
			} `json:"orders"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return "not the JSON of a shopper: " + err.Error()
		}
		if a.ID != s.id || a.Email != s.email {
			return fmt.Sprintf("shopper %d (%s), want %d (%s)", a.ID, a.Email, s.id, s.email)
		}
		got := make([]int64, len(a.Orders))
		for i, o := range a.Orders {
			got[i] = o.ID
		}
		return expectIDs(ctx, tools, got, "SELECT id FROM orders WHERE user_id = $1 ORDER BY id DESC LIMIT $2", s.id, order.OrdersPageSize)
	}
}

// checkAudit: the trail's first page, newest first, with the filter's rows.
func checkAudit(kind string, since, until *time.Time) pageCheck {
	var k *string
	if kind != "" {
		k = &kind
	}
	return func(ctx context.Context, tools *pgxpool.Pool, body []byte) string {
		var a struct {
			Entries []struct {
				ID int64 `json:"id"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return "not the JSON of the audit trail: " + err.Error()
		}
		got := make([]int64, len(a.Entries))
		for i, e := range a.Entries {
			got[i] = e.ID
		}
		return expectIDs(ctx, tools, got, `SELECT id FROM audit_log WHERE ($1::text IS NULL OR kind = $1)
			AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)
			ORDER BY created_at DESC, id DESC LIMIT $4`, k, since, until, audit.PageSize)
	}
}

// checkHistory: the shopper's own orders before the cursor (0: the newest).
func checkHistory(me loggedShopper, before int64) pageCheck {
	if before == 0 {
		before = math.MaxInt64
	}
	return func(ctx context.Context, tools *pgxpool.Pool, body []byte) string {
		var a struct {
			Orders []struct {
				ID int64 `json:"id"`
			} `json:"orders"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return "not the JSON of an order history: " + err.Error()
		}
		got := make([]int64, len(a.Orders))
		for i, o := range a.Orders {
			got[i] = o.ID
		}
		return expectIDs(ctx, tools, got, "SELECT id FROM orders WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3", me.id, before, order.OrdersPageSize)
	}
}

// checkShopperOrder: the shopper's own order, in its current status, with lines.
func checkShopperOrder(userID, id int64) pageCheck {
	return func(ctx context.Context, tools *pgxpool.Pool, body []byte) string {
		var a struct {
			ID     int64             `json:"id"`
			Status string            `json:"status"`
			Items  []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return "not the JSON of an order: " + err.Error()
		}
		var status string
		if err := tools.QueryRow(ctx, "SELECT status FROM orders WHERE id = $1 AND user_id = $2", id, userID).Scan(&status); err != nil {
			return "the bench's own query failed: " + err.Error()
		}
		if a.ID != id || a.Status != status || len(a.Items) == 0 {
			return fmt.Sprintf("order %d, %s, %d lines; want order %d, %s, with lines", a.ID, a.Status, len(a.Items), id, status)
		}
		return ""
	}
}

// nextCursor reads next_cursor from a JSON list.
func nextCursor(body []byte) string {
	var a struct {
		Next string `json:"next_cursor"`
	}
	json.Unmarshal(body, &a)
	return a.Next
}
