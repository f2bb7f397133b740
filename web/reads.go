package web

import (
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"market/internal/replica"
)

// Read-your-writes across a replica (docs/HTTP.md, "Where reads go"): after
// an admin changes the catalogue, the primary's WAL position is kept in
// their session cookie, and their next pages read the replica only once it
// has replayed that far (waiting READ_YOUR_WRITES_WAIT at most), else the
// primary. The cookie works on every app instance behind a load balancer.
const (
	sessionWroteLSN = "wal"
	sessionWroteAt  = "wal_at"
)

// rememberWrite records the position after a write the handler has just
// committed. Call it before the answer is written (it sets the cookie).
func (s *Server) rememberWrite(w http.ResponseWriter, r *http.Request) {
	if !s.Reads.HasReplica() {
		return
	}
	lsn, err := s.Reads.Wrote(r.Context())
	if err != nil {
		// The write is done; only its author's next pages may lag behind it
		// (by REPLICA_MAX_LAG at most).
		s.Log.Warn("cannot read the primary's WAL position after a write", "request_id", requestIDOf(r), "err", err)
		return
	}
	sess := s.sessions.get(r)
	sess.Values[sessionWroteLSN] = int64(lsn)
	sess.Values[sessionWroteAt] = time.Now().Unix()
	_ = sess.Save(r, w)
}

// lastWrite is the position a signed-in session last wrote at, while it may
// matter: a replica within REPLICA_MAX_LAG has replayed an older one, and
// forgetting it keeps a stale cookie (say, from before the database was
// replaced) from costing a wait on every page.
func (s *Server) lastWrite(sess *sessions.Session) (replica.LSN, bool) {
	if !s.Reads.HasReplica() {
		return 0, false
	}
	lsn, _ := sess.Values[sessionWroteLSN].(int64)
	at, _ := sess.Values[sessionWroteAt].(int64)
	if lsn <= 0 || time.Since(time.Unix(at, 0)) > max(time.Minute, 2*s.Config.ReplicaMaxLag) {
		return 0, false
	}
	return replica.LSN(lsn), true
}
