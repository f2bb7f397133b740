package web

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"market/internal/config"
	"market/internal/db"
	"market/internal/testenv"
)

// /readyz tells anyone only which component is down (and which instance
// answered, to see a load balancer's choice); why it is down (a
// driver's error, with addresses and user names) goes to the log and the
// market_dependency_up gauge.
func TestReadyzNamesTheComponentThatIsDownAndLogsWhy(t *testing.T) {
	_, raw := testenv.DBWithURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pgProxy := testenv.NewProxy(t, u.Host)
	u.Host = pgProxy.Addr()
	pool, err := db.Open(t.Context(), u.String(), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	redisProxy := testenv.NewProxy(t, testenv.Redis(t).Options().Addr)
	rdb := redis.NewClient(&redis.Options{Addr: redisProxy.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })

	var logged bytes.Buffer
	reg := prometheus.NewRegistry()
	s := &Server{Deps: Deps{Log: slog.New(slog.NewTextHandler(&logged, nil)), Pool: pool, Redis: rdb,
		Config: config.Config{Instance: "app-7"}}, metrics: newHTTPMetrics(reg)}
	ready := func() (int, map[string]string, string) {
		t.Helper()
		rec := newRecorder()
		s.readyz(rec, mustRequest(t, "/readyz"))
		var got map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("readyz answered %q: %v", rec.Body.String(), err)
		}
		return rec.Code, got, rec.Body.String()
	}
	up := func(name string) float64 { return testutil.ToFloat64(s.metrics.up.WithLabelValues(name)) }

	tests := []struct {
		name       string
		pg, redis  bool // reachable
		wantStatus int
		want       map[string]string
	}{
		{"both up", true, true, http.StatusOK, map[string]string{"status": "ok", "instance": "app-7", "postgres": "ok", "redis": "ok"}},
		{"PostgreSQL down", false, true, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "instance": "app-7", "postgres": "down", "redis": "ok"}},
		{"Redis down", true, false, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "instance": "app-7", "postgres": "ok", "redis": "down"}},
		{"both down", false, false, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "instance": "app-7", "postgres": "down", "redis": "down"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct {
				p  *testenv.Proxy
				on bool
			}{{pgProxy, tc.pg}, {redisProxy, tc.redis}} {
				if c.on {
					c.p.Restore()
				} else {
					c.p.Cut()
				}
			}
			logged.Reset()
			status, got, body := ready()
			if status != tc.wantStatus || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("readyz: %d %s; want %d %v", status, body, tc.wantStatus, tc.want)
			}
			for name, reachable := range map[string]bool{"postgres": tc.pg, "redis": tc.redis} {
				if want := map[bool]float64{true: 1, false: 0}[reachable]; up(name) != want {
					t.Errorf("market_dependency_up{dependency=%q} = %v, want %v", name, up(name), want)
				}
				if mentioned := strings.Contains(logged.String(), "component="+name); mentioned == reachable {
					t.Errorf("log mentions %s: %v, want %v:\n%s", name, mentioned, !reachable, logged.String())
				}
			}
			if !tc.pg || !tc.redis {
				if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "err=") {
					t.Errorf("the reason is not logged as a warning:\n%s", logged.String())
				}
			}
		})
	}
}

// A PostgreSQL too slow to answer within /readyz's wait is down, and Redis,
// which answered, is not: each is asked with a wait of its own. Here the
// pool's one connection is taken, so the ping waits out its time.
func TestReadyzDoesNotBlameRedisForASlowPostgres(t *testing.T) {
	_, raw := testenv.DBWithURL(t)
	pool, err := db.Open(t.Context(), raw, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := newHarnessOn(t, pool)
	held, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	r := h.client().get("/readyz")
	var got map[string]string
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != http.StatusServiceUnavailable || got["postgres"] != "down" || got["redis"] != "ok" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
