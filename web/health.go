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

// readyz: PostgreSQL and Redis both answer, so this instance can serve.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out := map[string]string{"postgres": "ok", "redis": "ok"}
	status := http.StatusOK
	if err := s.Pool.Ping(ctx); err != nil {
		out["postgres"], status = err.Error(), http.StatusServiceUnavailable
	}
	if err := s.Redis.Ping(ctx).Err(); err != nil {
		out["redis"], status = err.Error(), http.StatusServiceUnavailable
	}
	_ = writeJSON(w, status, out)
}
