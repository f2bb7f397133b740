package bench

import (
	"fmt"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The bench server's own view of the claims: the latency histogram its
// middleware keeps for the claim route (web/metrics.go), read at
// /bench/metrics before and after a measured window. The server's time
// starts when it has read the request and ends when it has written the
// answer, so beside the client's figures it shows how much of a claim's
// latency is queueing on the shared cores outside the handler.
const (
	serverLatency = "market_http_request_duration_seconds"
	claimRoute    = "/coupons/{campaignID}/claim"
)

// serverBuckets is the claim route's cumulative histogram: counts per upper bound.
type serverBuckets struct {
	bounds []float64
	counts []uint64
}

func scrapeClaimLatency(addr string) (serverBuckets, error) {
	res, err := http.Get("http://" + addr + "/bench/metrics")
	if err != nil {
		return serverBuckets{}, err
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		return serverBuckets{}, fmt.Errorf("bench server metrics: %w", err)
	}
	var out serverBuckets
	if f := families[serverLatency]; f != nil {
		for _, m := range f.GetMetric() {
			if label(m, "route") == claimRoute && label(m, "method") == http.MethodPost {
				for _, b := range m.GetHistogram().GetBucket() {
					out.bounds = append(out.bounds, b.GetUpperBound())
					out.counts = append(out.counts, b.GetCumulativeCount())
				}
			}
		}
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// quantile is the upper bound of the bucket that holds quantile q of the
// claims between before and after ("≤ 25ms"), or "-" without any.
func (after serverBuckets) quantile(before serverBuckets, q float64) string {
	if len(after.counts) == 0 {
		return "-"
	}
	total := after.counts[len(after.counts)-1]
	if len(before.counts) == len(after.counts) {
		total -= before.counts[len(before.counts)-1]
	}
	if total == 0 {
		return "-"
	}
	want := uint64(math.Ceil(q * float64(total)))
	for i, c := range after.counts {
		if len(before.counts) == len(after.counts) {
			c -= before.counts[i]
		}
		if c >= want {
			return "≤" + time.Duration(after.bounds[i]*float64(time.Second)).String()
		}
	}
	return ">" + time.Duration(after.bounds[len(after.bounds)-1]*float64(time.Second)).String()
}
