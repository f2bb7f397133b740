// Package consistency proves that Redis, PostgreSQL and the ledgers agree:
// it runs every invariant (checks.go) as set-based queries, stores each
// run with its results, and runs on a schedule (one instance at a time).
package consistency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/audit"
	"market/internal/coupon"
	"market/internal/db"
	"market/internal/errs"
)

// Check is one row of the report: what was compared, the two sides, the verdict.
type Check struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	OK      bool   `json:"ok"`
	Left    int64  `json:"left"`
	Right   int64  `json:"right"`
	Detail  string `json:"detail"`
	// Repair names the safe repair for a red row ("rebuild_campaign",
	// "redrive_dead_letters"), with the campaign it applies to; empty when
	// there is none (ledger drift is shown, never overwritten).
	Repair     string `json:"repair,omitempty"`
	CampaignID int64  `json:"campaign_id,omitempty"`
}

// Source contributes the checks of one domain.
type Source interface {
	Checks(ctx context.Context) ([]Check, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) ([]Check, error)

func (f SourceFunc) Checks(ctx context.Context) ([]Check, error) { return f(ctx) }

// Report is one stored run or repair.
type Report struct {
	ID      int64     `json:"id"`
	Kind    string    `json:"kind"`
	Trigger string    `json:"trigger"`
	ActorID *int64    `json:"actor_id,omitempty"`
	OK      bool      `json:"ok"`
	RanAt   time.Time `json:"ran_at"`
	TookMS  int64     `json:"took_ms"`
	Summary string    `json:"summary"`
	Checks  []Check   `json:"checks"`
}

// Failed counts the red rows.
func (r Report) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if !c.OK {
			n++
		}
	}
	return n
}

// Service runs and stores reports.
type Service struct {
	pool    *pgxpool.Pool
	q       *db.Queries
	log     *slog.Logger
	coupons Coupons
	sources []Source
}

// Coupons is what the report needs of the coupon service: Redis's side of
// each campaign, and the two safe repairs.
type Coupons interface {
	RedisStates(ctx context.Context, ids []int64) ([]coupon.RedisState, error)
	Rebuild(ctx context.Context, campaignID int64, reason string) (coupon.Rebuilt, error)
	RedriveDeadLetters(ctx context.Context, campaignID int64) (coupon.Redriven, error)
}

// NewService checks the built-in invariants (stock, wallets, orders, the
// search copy and, when coupons is not nil, campaigns) plus every source given.
func NewService(pool *pgxpool.Pool, log *slog.Logger, coupons Coupons, sources ...Source) *Service {
	s := &Service{pool: pool, q: db.New(pool), log: log, coupons: coupons}
	builtin := []Source{SourceFunc(s.stockChecks), SourceFunc(s.walletChecks), SourceFunc(s.orderChecks), SourceFunc(s.searchChecks)}
	if coupons != nil {
		builtin = append(builtin, SourceFunc(s.campaignChecks))
	}
	s.sources = append(builtin, sources...)
	return s
}

// maxRows bounds how many failing subjects one check lists: the report
// explains drift, it does not dump a million rows.
const maxRows = 50

// Run executes every check and stores the result.
func (s *Service) Run(ctx context.Context, trigger string, actorID *int64) (Report, error) {
	start := time.Now()
	var checks []Check
	for _, src := range s.sources {
		c, err := src.Checks(ctx)
		if err != nil {
			return Report{}, fmt.Errorf("consistency check: %w", err)
		}
		checks = append(checks, c...)
	}
	r := Report{Kind: "run", Trigger: trigger, ActorID: actorID, OK: true, Checks: checks, TookMS: time.Since(start).Milliseconds()}
	for _, c := range checks {
		r.OK = r.OK && c.OK
	}
	r.Summary = fmt.Sprintf("%d checks, %d failed", len(checks), r.Failed())
	return store(ctx, s.q, r)
}

// RecordRepair stores a repair in the same history, with who ran it.
func (s *Service) RecordRepair(ctx context.Context, actorID int64, summary string, ok bool, took time.Duration) (Report, error) {
	var rep Report
	err := db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		var err error
		rep, err = store(ctx, q, Report{Kind: "repair", Trigger: "repair", ActorID: &actorID, OK: ok, Summary: summary, TookMS: took.Milliseconds(), Checks: []Check{}})
		if err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Repair, "repair", audit.Subject("consistency run", rep.ID), nil, map[string]any{"summary": summary, "ok": ok})
	})
	return rep, err
}

func store(ctx context.Context, q *db.Queries, r Report) (Report, error) {
	if r.Checks == nil {
		r.Checks = []Check{}
	}
	b, err := json.Marshal(r.Checks)
	if err != nil {
		return Report{}, err
	}
	row, err := q.InsertConsistencyRun(ctx, db.InsertConsistencyRunParams{
		Kind: r.Kind, Trigger: r.Trigger, ActorID: r.ActorID, TookMs: r.TookMS, Ok: r.OK, Summary: r.Summary, Checks: b,
	})
	if err != nil {
		return Report{}, err
	}
	r.ID, r.RanAt = row.ID, row.RanAt
	return r, nil
}

// Last is the newest run (not repair); ok is false when there has been none.
func (s *Service) Last(ctx context.Context) (Report, bool, error) {
	row, err := s.q.LastConsistencyRun(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		return Report{}, false, nil
	}
	if err != nil {
		return Report{}, false, err
	}
	r, err := fromRow(row)
	return r, err == nil, err
}

// Get returns one stored run.
func (s *Service) Get(ctx context.Context, id int64) (Report, error) {
	row, err := s.q.GetConsistencyRun(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Report{}, errs.New(errs.NotFound, "No such consistency run.")
	}
	if err != nil {
		return Report{}, err
	}
	return fromRow(row)
}

// History lists recent runs and repairs, without their rows.
func (s *Service) History(ctx context.Context, limit int32) ([]Report, error) {
	rows, err := s.q.LatestConsistencyRuns(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Report, len(rows))
	for i, r := range rows {
		out[i] = Report{ID: r.ID, Kind: r.Kind, Trigger: r.Trigger, ActorID: r.ActorID, OK: r.Ok, RanAt: r.RanAt, TookMS: r.TookMs, Summary: r.Summary}
	}
	return out, nil
}

func fromRow(row db.ConsistencyRun) (Report, error) {
	r := Report{ID: row.ID, Kind: row.Kind, Trigger: row.Trigger, ActorID: row.ActorID, OK: row.Ok, RanAt: row.RanAt, TookMS: row.TookMs, Summary: row.Summary}
	err := json.Unmarshal(row.Checks, &r.Checks)
	return r, err
}

// scheduleLock is the advisory lock that keeps scheduled runs to one instance.
const scheduleLock = 7_401_001

// Schedule runs the report every interval until ctx ends. When several app
// instances run, only the one holding the advisory lock runs it.
func (s *Service) Schedule(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.runIfLeader(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("scheduled consistency run", "err", err)
			}
		}
	}
}

func (s *Service) runIfLeader(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", scheduleLock).Scan(&got); err != nil || !got {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", scheduleLock) //nolint:errcheck
	r, err := s.Run(ctx, "schedule", nil)
	if err == nil && !r.OK {
		s.log.Warn("consistency report is red", "run", r.ID, "summary", r.Summary)
	}
	return err
}

// stockChecks: per product, stock = opening stock + sum of the stock ledger, and stock ≥ 0.
func (s *Service) stockChecks(ctx context.Context) ([]Check, error) {
	total, err := s.q.CountProductStock(ctx)
	if err != nil {
		return nil, err
	}
	drift, err := s.q.ProductStockDrift(ctx, maxRows)
	if err != nil {
		return nil, err
	}
	out := []Check{{
		Name: "stock = opening stock + stock ledger, stock ≥ 0", Subject: fmt.Sprintf("all %d products", total),
		OK: len(drift) == 0, Left: total - int64(len(drift)), Right: total,
		Detail: fmt.Sprintf("%d of %d products agree with their ledger", total-int64(len(drift)), total),
	}}
	for _, d := range drift {
		out = append(out, Check{
			Name: "stock = opening stock + stock ledger", Subject: fmt.Sprintf("product %d (%s)", d.ProductID, d.Name),
			OK: false, Left: d.Stock, Right: d.Expected,
			Detail: fmt.Sprintf("stock is %d, the ledger says %d", d.Stock, d.Expected),
		})
	}
	return out, nil
}
