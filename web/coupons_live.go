package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"

	"market/internal/coupon"
	"market/internal/errs"
	"market/internal/money"
	"market/views"
)

// Live remaining counts (docs/HTTP.md, GET /coupons/live): a server-sent
// event stream for the htmx SSE extension, and the same counts once for the
// poll that stands in when a stream cannot be had.

const (
	maxWatchedIDs = 50 // campaigns one page may watch
	// streamWriteWait bounds each write to a stream: a shopper whose
	// connection stalls is dropped instead of holding a goroutine.
	streamWriteWait = 10 * time.Second
	// streamPing keeps proxies from closing a quiet stream and finds
	// shoppers who left without closing it.
	streamPing = 15 * time.Second
	// streamRetry is how long a browser waits before reconnecting a stream
	// that ended (a deploy, a restart).
	streamRetry = 2 * time.Second
)

var errBadIDs = errs.New(errs.Invalid, "ids must be 1 to 50 campaign ids, separated by commas.")

func parseIDs(raw string) ([]int64, error) {
	parts := strings.Split(raw, ",")
	if raw == "" || len(parts) > maxWatchedIDs {
		return nil, errBadIDs
	}
	ids := make([]int64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil || n < 1 {
			return nil, errBadIDs
		}
		ids[i] = n
	}
	return ids, nil
}

func wantsStream(r *http.Request) bool {
	return accepts(r, "text/event-stream")
}

func (s *Server) liveCounts(w http.ResponseWriter, r *http.Request) error {
	ids, err := parseIDs(r.URL.Query().Get("ids"))
	if err != nil {
		return err
	}
	if wantsStream(r) {
		return s.streamCounts(w, r, ids)
	}
	now := time.Now()
	counts, err := s.Coupons.Remaining(r.Context(), ids)
	if err != nil {
		return err
	}
	js := make(map[string]int64, len(counts))
	for id, n := range counts {
		js[strconv.FormatInt(id, 10)] = n
	}
	return s.render(w, r, answer{Page: views.LiveCounts(counts), JSON: map[string]any{"server_time": views.JSONTime(now), "remaining": js}})
}

// streamCounts sends each watched campaign's remaining count whenever it
// changes, read by the coupon hub once per tick for every watcher. The
// stream lasts until the shopper leaves or the shop shuts down (the request
// timeout does not apply to it: timeoutExceptStreams).
func (s *Server) streamCounts(w http.ResponseWriter, r *http.Request, ids []int64) error {
	watch, err := s.Coupons.Watch(ids)
	if err != nil {
		return err // 503 busy past LIVE_MAX_STREAMS: the page polls instead
	}
	defer watch.Close()
	send := openEventStream(w)
	if !send(fmt.Appendf(nil, "retry: %d\n\n", streamRetry.Milliseconds())) {
		return nil
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	sent := make(coupon.Counts, len(ids))
	var buf bytes.Buffer
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-watch.Done():
			return nil // shutdown: the browser reconnects elsewhere after streamRetry
		case <-ping.C:
			if !send([]byte(": ping\n\n")) {
				return nil
			}
		case counts := <-watch.Counts():
			buf.Reset()
			for id, n := range counts {
				if prev, ok := sent[id]; ok && prev == n {
					continue
				}
				sent[id] = n
				// The event name is the element's sse-swap; the data its new text.
				fmt.Fprintf(&buf, "event: remaining-%d\ndata: %s left\n\n", id, money.Count(n))
			}
			if buf.Len() > 0 && !send(buf.Bytes()) {
				return nil
			}
		}
	}
}

// openEventStream starts a server-sent event stream and returns its writer,
// which reports false once the shopper is gone.
func openEventStream(w http.ResponseWriter) (send func([]byte) bool) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a buffering proxy would hold the events back
	w.WriteHeader(http.StatusOK)
	return func(b []byte) bool {
		// Each write gets its own deadline, whatever the server's WriteTimeout.
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteWait)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
}

// timeoutExceptStreams is the REQUEST_TIMEOUT deadline for every request but
// an event stream (live counts, a waiting room), which answers for as long
// as the shopper watches, and a
// CSV export, which takes as long as its rows (both give their writes
// deadlines of their own; each export statement has the statement timeout).
func timeoutExceptStreams(d time.Duration) func(http.Handler) http.Handler {
	limit := chimw.Timeout(d)
	return func(next http.Handler) http.Handler {
		limited := limit(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stream := wantsStream(r) && (r.URL.Path == "/coupons/live" || strings.HasSuffix(r.URL.Path, "/room"))
			if stream || strings.HasPrefix(r.URL.Path, "/admin/exports/") {
				next.ServeHTTP(w, r)
				return
			}
			limited.ServeHTTP(w, r)
		})
	}
}
