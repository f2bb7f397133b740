package web

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// healthz: the process is up.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	_ = writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: PostgreSQL and Redis both answer, so this instance can serve. It
// also names the instance (INSTANCE_NAME), to see a load balancer's choice. The
// answer names a component and says "ok" or "down", nothing more: a driver's
// error carries addresses and user names, so it goes to the log (and the
// market_dependency_up gauge) instead of to whoever asked.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	// Both are asked at once, each with its own 2 s: a slow PostgreSQL must
	// not use up Redis's time and have it reported down too.
	var pgErr, redisErr error
	var wg sync.WaitGroup
	ping := func(err *error, f func(context.Context) error) {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			*err = f(ctx)
		})
	}
	ping(&pgErr, s.Pool.Ping)
	ping(&redisErr, func(ctx context.Context) error { return s.Redis.Ping(ctx).Err() })
	wg.Wait()
	out := map[string]string{"status": "ok", "instance": s.Config.Instance}
	status := http.StatusOK
	check := func(component string, err error) {
		out[component] = "ok"
		s.metrics.dependencyUp(component, err == nil)
		if err != nil {
			out[component], out["status"], status = "down", "not_ready", http.StatusServiceUnavailable
			s.Log.Warn("not ready", "request_id", requestIDOf(r), "component", component, "err", err)
		}
	}
	check("postgres", pgErr)
	check("redis", redisErr)
	if status != http.StatusOK {
		w.Header().Set("Retry-After", "5")
	}
	_ = writeJSON(w, status, out)
}
