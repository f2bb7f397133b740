package web

import (
	"net/http"
	"strconv"
	"time"

	"market/internal/consistency"
	"market/internal/coupon"
	"market/internal/order"
	"market/internal/series"
	"market/views"
)

// adminHome is the dashboard. The page polls this handler every 2 s; an
// HTMX request gets only the live fragment, a JSON client the same facts.
func (s *Server) adminHome(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := time.Now()
	cd, err := s.Coupons.Dashboard(ctx, now)
	if err != nil {
		return err
	}
	od, err := s.Orders.Dashboard(ctx, now)
	if err != nil {
		return err
	}
	last, ran, err := s.Consistency.Last(ctx)
	if err != nil {
		return err
	}
	v := dashboardView(cd, od, last, ran)
	return s.render(w, r, answer{
		Page:     views.AdminHomePage(v),
		Fragment: views.DashboardLive(v),
		JSON:     dashboardJSON(cd, od, last, ran),
	})
}

func dashboardView(cd coupon.Dashboard, od order.Dashboard, last consistency.Report, ran bool) views.DashboardView {
	v := views.DashboardView{
		Claims:        chartPoints(cd.Claims, "15:04:05"),
		ClaimRate:     rate(claimsLastMinute(cd.Claims), time.Minute),
		ClaimPeakRate: rate(peakOf(cd.Claims), coupon.ClaimStep),
		WriteBack: views.WriteBackView{Flushed: cd.WriteBack.Flushed, Pending: cd.WriteBack.Pending, DeadLetters: cd.WriteBack.DeadLetters,
			OldestPending: cd.WriteBack.OldestPending.Round(100 * time.Millisecond).String()},
		OrdersToday: od.OrdersToday, RevenueToday: od.RevenueToday,
		OrdersPerMinute: chartPoints(od.PerMinute, "15:04"),
	}
	for _, l := range cd.Campaigns {
		v.Campaigns = append(v.Campaigns, campaignRow(l))
	}
	if ran {
		v.Consistency = &views.ConsistencySummary{ID: last.ID, RanAt: views.When(last.RanAt), OK: last.OK, Checks: len(last.Checks), Failed: last.Failed()}
	}
	return v
}

func chartPoints(ps []series.Point, layout string) []views.ChartPoint {
	out := make([]views.ChartPoint, len(ps))
	for i, p := range ps {
		out[i] = views.ChartPoint{Label: p.At.Local().Format(layout), Value: p.Value}
	}
	return out
}

// claimsLastMinute sums the buckets of the last minute.
func claimsLastMinute(ps []series.Point) int64 {
	var n int64
	for i := max(len(ps)-int(time.Minute/coupon.ClaimStep), 0); i < len(ps); i++ {
		n += ps[i].Value
	}
	return n
}

func peakOf(ps []series.Point) int64 {
	var m int64
	for _, p := range ps {
		m = max(m, p.Value)
	}
	return m
}

// rate is n per second over d, with one decimal: "1.5".
func rate(n int64, d time.Duration) string {
	return strconv.FormatFloat(float64(n)/d.Seconds(), 'f', 1, 64)
}

type pointJSON struct {
	At    string `json:"at"`
	Count int64  `json:"count"`
}

func seriesJSON(ps []series.Point) []pointJSON {
	out := make([]pointJSON, len(ps))
	for i, p := range ps {
		out[i] = pointJSON{At: p.At.Format(time.RFC3339), Count: p.Value}
	}
	return out
}

// dashboardJSON has the page's facts; campaigns carry the campaign fields and counters (docs/HTTP.md).
func dashboardJSON(cd coupon.Dashboard, od order.Dashboard, last consistency.Report, ran bool) map[string]any {
	campaigns := make([]map[string]any, len(cd.Campaigns))
	for i, l := range cd.Campaigns {
		campaigns[i] = campaignJSON(l.Campaign, &l)
	}
	var cons any
	if ran {
		cons = map[string]any{"id": last.ID, "ran_at": last.RanAt.Format(time.RFC3339), "ok": last.OK, "checks": len(last.Checks),
			"failed": last.Failed(), "url": "/admin/consistency?run=" + strconv.FormatInt(last.ID, 10)}
	}
	wb := cd.WriteBack
	return map[string]any{
		"campaigns": campaigns,
		"claims": map[string]any{
			"bucket_seconds": int(coupon.ClaimStep / time.Second), "buckets": seriesJSON(cd.Claims),
			"per_second_last_minute": float64(claimsLastMinute(cd.Claims)) / 60,
		},
		"write_back": map[string]any{"flushed": wb.Flushed, "pending": wb.Pending,
			"oldest_pending_seconds": wb.OldestPending.Seconds(), "dead_letters": wb.DeadLetters},
		"orders_today":  od.OrdersToday,
		"revenue_today": od.RevenueToday,
		"orders_per_minute": map[string]any{
			"bucket_seconds": int(order.OrderStep / time.Second), "buckets": seriesJSON(od.PerMinute),
		},
		"consistency": cons,
	}
}
