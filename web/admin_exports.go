package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"market/internal/errs"
	"market/internal/export"
)

func (s *Server) adminExportRoutes(r chi.Router) {
	r.Get("/exports/orders.csv", s.h(s.exportOrders))
	r.Get("/exports/claims.csv", s.h(s.exportClaims))
	r.Get("/exports/ledger.csv", s.h(s.exportLedger))
}

// exportWriteWait bounds each write of an export to a slow client; the
// export as a whole has no deadline (timeoutExceptStreams).
const exportWriteWait = 30 * time.Second

func (s *Server) exportOrders(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r.URL.Query())
	from, before := f.days("from", "to")
	status := f.str("status", 20)
	if err := f.err(); err != nil {
		return err
	}
	flt := export.OrdersFilter{From: time.Unix(0, 0), Before: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Status: status}
	if from != nil {
		flt.From = *from
	}
	if before != nil {
		flt.Before = *before
	}
	if err := flt.Validate(); err != nil {
		return err // before the download starts: a 422, not a cut connection
	}
	name := "orders"
	for _, part := range []string{f.values["from"], f.values["to"], status} {
		if part != "" {
			name += "-" + part
		}
	}
	return s.sendCSV(w, r, name, func(ctx context.Context, w io.Writer) (int64, error) {
		return s.Exports.Orders(ctx, w, flt, nil)
	})
}

func (s *Server) exportClaims(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r.URL.Query())
	id := f.int64("campaign_id", 1, 1<<62, true, 0)
	if err := f.err(); err != nil {
		return err
	}
	if _, err := s.Coupons.Get(r.Context(), id); err != nil {
		return err // 404 for a campaign that does not exist
	}
	return s.sendCSV(w, r, fmt.Sprintf("claims-campaign-%d", id), func(ctx context.Context, w io.Writer) (int64, error) {
		return s.Exports.Claims(ctx, w, id, nil)
	})
}

func (s *Server) exportLedger(w http.ResponseWriter, r *http.Request) error {
	kind := r.URL.Query().Get("kind")
	switch kind {
	case export.LedgerStock, export.LedgerBalance, export.LedgerPoints:
	default:
		return &errs.Error{Code: errs.Invalid, Message: "Choose the ledger: kind=stock, balance or points.",
			Fields: map[string]string{"kind": "Choose the ledger: kind=stock, balance or points."}}
	}
	return s.sendCSV(w, r, kind+"-ledger", func(ctx context.Context, w io.Writer) (int64, error) {
		return s.Exports.Ledger(ctx, w, kind, nil)
	})
}

// sendCSV streams an export as a download, flushing after every batch.
// The status goes out with the first batch: a failure before it (PostgreSQL
// down) is an error page, and one after it cannot be, so the connection is
// cut instead, and the client sees a broken download, never a short file
// that looks whole.
func (s *Server) sendCSV(w http.ResponseWriter, r *http.Request, name string, write func(context.Context, io.Writer) (int64, error)) error {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+strings.Map(safeFileRune, name)+`.csv"`)
	h.Set("Cache-Control", "no-store")
	fw := &flushingWriter{w: w, rc: http.NewResponseController(w)}
	n, err := write(r.Context(), fw)
	if err != nil && !fw.wrote {
		h.Del("Content-Disposition")
		return err
	}
	if err != nil {
		s.Log.Warn("export cut short", "request_id", requestIDOf(r), "export", name, "rows", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func safeFileRune(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
		return r
	}
	return '_'
}

// flushingWriter gives every write its own deadline and sends it at once
// (the CSV writer writes a batch at a time).
type flushingWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	wrote bool // the status and a first batch have gone out
}

func (f *flushingWriter) Write(p []byte) (int, error) {
	f.wrote = true
	_ = f.rc.SetWriteDeadline(time.Now().Add(exportWriteWait))
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}
