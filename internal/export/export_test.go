package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"testing"
	"time"

	"market/internal/export"
	"market/internal/testenv"
)

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v", err)
	}
	return rows
}

// A ledger longer than several batches comes out whole, in order, each row
// once; the progress is told after every batch.
func TestALedgerOfManyBatchesComesOutWholeAndInOrder(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO users (email, password_hash, name) VALUES ('l@example.test', 'x', 'L')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO balance_ledger (user_id, delta, reason, note)
		SELECT (SELECT id FROM users), i, 'adjustment', CASE WHEN i = 7 THEN '=HYPERLINK("x")' ELSE 'n' || i END
		FROM generate_series(1, 12001) i`); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var told []int64
	n, err := export.NewService(pool).Ledger(ctx, &out, export.LedgerBalance, func(rows int64) { told = append(told, rows) })
	if err != nil || n != 12001 {
		t.Fatalf("%d rows (%v)", n, err)
	}
	rows := readCSV(t, out.Bytes())
	if len(rows) != 12002 || rows[0][0] != "id" || rows[0][4] != "note" {
		t.Fatalf("%d lines, header %v", len(rows), rows[0])
	}
	for i, r := range rows[1:] {
		if want := i + 1; r[2] != itoa(want) {
			t.Fatalf("line %d has delta %s, want %d", i+1, r[2], want)
		}
	}
	if rows[7][4] != `'=HYPERLINK("x")` {
		t.Fatalf("a formula was written as is: %q", rows[7][4])
	}
	if len(told) != 3 || told[2] != 12001 {
		t.Fatalf("progress told %v", told)
	}
}

// Orders are exported by the day range and status asked for, in the shop's
// zone, and a bad status is refused before anything is written.
func TestOrdersByDayAndStatus(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO users (email, password_hash, name) VALUES ('o@example.test', 'x', 'O')`); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(ctx, `INSERT INTO orders (user_id, idempotency_key, status, subtotal, charged, created_at, cancelled_at)
		SELECT (SELECT id FROM users), 'k' || i, CASE WHEN i % 3 = 0 THEN 'cancelled' ELSE 'placed' END, 1000, 1000,
		       timestamptz '2026-01-01 00:00:00+09' + (i || ' hours')::interval,
		       CASE WHEN i % 3 = 0 THEN now() END
		FROM generate_series(0, 71) i`)
	if err != nil {
		t.Fatal(err)
	}
	seoul, _ := time.LoadLocation("Asia/Seoul")
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, seoul) }
	s := export.NewService(pool)
	for _, tt := range []struct {
		f    export.OrdersFilter
		want int
	}{
		{export.OrdersFilter{From: day(1), Before: day(4)}, 72},
		{export.OrdersFilter{From: day(2), Before: day(3)}, 24},
		{export.OrdersFilter{From: day(2), Before: day(3), Status: "cancelled"}, 8},
		{export.OrdersFilter{From: day(2), Before: day(3), Status: "placed"}, 16},
		{export.OrdersFilter{From: day(2), Before: day(3), Status: "delivered"}, 0}, // a status of the lifecycle: none here, but asked for
		{export.OrdersFilter{From: day(5), Before: day(6)}, 0},
	} {
		var out bytes.Buffer
		n, err := s.Orders(ctx, &out, tt.f, nil)
		if err != nil || n != int64(tt.want) || len(readCSV(t, out.Bytes())) != tt.want+1 {
			t.Errorf("%+v: %d rows (%v), want %d", tt.f, n, err, tt.want)
		}
	}
	var out bytes.Buffer
	if _, err := s.Orders(context.Background(), &out, export.OrdersFilter{From: day(1), Before: day(2), Status: "shipped'"}, nil); err == nil || out.Len() != 0 {
		t.Fatalf("a bad status: %v, %d bytes written", err, out.Len())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
