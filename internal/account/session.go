package account

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/errs"
	"market/internal/redisdb"
)

// Sessions are the server's record of who is logged in where. A session
// cookie names a user and a random session id, and it counts only while
// Redis holds that id under the user: logging out ends that session; "log
// out everywhere", a password change and a role change end all of the
// user's sessions, on every copy of every cookie.
//
// Checking costs one command in a shared Redis pipeline, and a session seen valid is trusted
// for validFor without asking again: a session ended on another instance
// may still be accepted there for that long (docs/SECURITY.md).
type Sessions struct {
	rdb    redis.UniversalClient
	checks *redisdb.Pipe // one pipeline carries the checks of a crowd
	maxAge time.Duration

	mu     sync.Mutex
	recent map[string]time.Time // "user:session" → valid until
}

// SessionMaxAge is how long a session lasts after its login.
const SessionMaxAge = 30 * 24 * time.Hour

// endedField is the hash field that says when all sessions were last ended.
const endedField = "ended"

const (
	validFor           = time.Second
	maxSessionsPerUser = 50
	maxRecent          = 100_000 // bound on the cache; it starts over when full
)

//go:embed session.lua
var sessionSrc string

var sessionScript = redis.NewScript(sessionSrc)

// NewSessions keeps sessions in rdb for maxAge after each login.
func NewSessions(rdb redis.UniversalClient, maxAge time.Duration) *Sessions {
	return &Sessions{rdb: rdb, checks: redisdb.NewPipe(rdb, nil), maxAge: maxAge, recent: map[string]time.Time{}}
}

func sessionKey(userID int64) string { return "session:{" + strconv.FormatInt(userID, 10) + "}" }

// ErrSessionsEnded: the user's sessions were ended (a password change)
// after the password of this login was checked; no session was started.
var ErrSessionsEnded = errs.New(errs.Unauthorized, "Your password changed while you were signing in. Please sign in again.")

// Start records a new session of the user and returns its id. checkedAt is
// when the password that opens it was checked (read from the database): a
// login that checked the old password while it was being changed gets no
// session (ErrSessionsEnded).
func (s *Sessions) Start(ctx context.Context, userID int64, checkedAt time.Time) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	n, err := sessionScript.Run(ctx, s.rdb, []string{sessionKey(userID)},
		id, time.Now().UnixMicro(), s.maxAge.Milliseconds(), maxSessionsPerUser, checkedAt.UnixMicro()).Int64()
	if err == nil && n < 0 {
		err = ErrSessionsEnded
	}
	return id, err
}

// Valid reports whether the session is still open: recorded, and younger
// than maxAge. An error means Redis could not tell; the caller refuses the
// request rather than trust a session that may have ended.
func (s *Sessions) Valid(ctx context.Context, userID int64, sessionID string) (bool, error) {
	if sessionID == "" || sessionID == endedField {
		return false, nil
	}
	k := strconv.FormatInt(userID, 10) + ":" + sessionID
	now := time.Now()
	s.mu.Lock()
	until, ok := s.recent[k]
	s.mu.Unlock()
	if ok && now.Before(until) {
		return true, nil
	}
	var cmd *redis.StringCmd
	if err := s.checks.Do(ctx, func(p redis.Pipeliner) { cmd = p.HGet(context.Background(), sessionKey(userID), sessionID) }); err != nil {
		return false, err
	}
	started, err := cmd.Int64()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if now.After(time.UnixMicro(started).Add(s.maxAge)) {
		return false, nil
	}
	s.mu.Lock()
	if len(s.recent) >= maxRecent {
		clear(s.recent)
	}
	s.recent[k] = now.Add(validFor)
	s.mu.Unlock()
	return true, nil
}

// End ends one session.
func (s *Sessions) End(ctx context.Context, userID int64, sessionID string) error {
	s.forget(userID, sessionID)
	return s.rdb.HDel(ctx, sessionKey(userID), sessionID).Err()
}

// EndAll ends every session of the user, and any session a login that
// checked the password before now would start (see Start).
func (s *Sessions) EndAll(ctx context.Context, userID int64) error {
	s.forget(userID, "")
	k := sessionKey(userID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, endedField, time.Now().UnixMicro())
		p.PExpire(ctx, k, s.maxAge)
		return nil
	})
	return err
}

// forget drops the user's sessions (one, or all when sessionID is empty)
// from this instance's cache.
func (s *Sessions) forget(userID int64, sessionID string) {
	prefix := strconv.FormatInt(userID, 10) + ":"
	s.mu.Lock()
	defer s.mu.Unlock()
	if sessionID != "" {
		delete(s.recent, prefix+sessionID)
		return
	}
	for k := range s.recent {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			delete(s.recent, k)
		}
	}
}
