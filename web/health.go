package web

import (
	"context"
	"net/http"
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
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
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
	check("postgres", s.Pool.Ping(ctx))
	check("redis", s.Redis.Ping(ctx).Err())
	if status != http.StatusOK {
		w.Header().Set("Retry-After", "5")
	}
	_ = writeJSON(w, status, out)
}
