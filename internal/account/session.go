package account

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sessions are the server's record of who is logged in where. A session
// cookie names a user and a random session id, and it counts only while
// Redis holds that id under the user: logging out ends that session; "log
// out everywhere", a password change and a role change end all of the
// user's sessions, on every copy of every cookie.
//
// Checking costs one Redis round trip, and a session seen valid is trusted
// for validFor without asking again: a session ended on another instance
// may still be accepted there for that long (docs/SECURITY.md).
type Sessions struct {
	rdb    redis.UniversalClient
	maxAge time.Duration

	mu     sync.Mutex
	recent map[string]time.Time // "user:session" → valid until
}

// SessionMaxAge is how long a session lasts after its login.
const SessionMaxAge = 30 * 24 * time.Hour

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
	return &Sessions{rdb: rdb, maxAge: maxAge, recent: map[string]time.Time{}}
}

func sessionKey(userID int64) string { return "session:{" + strconv.FormatInt(userID, 10) + "}" }

// Start records a new session of the user and returns its id.
func (s *Sessions) Start(ctx context.Context, userID int64) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	err := sessionScript.Run(ctx, s.rdb, []string{sessionKey(userID)},
		id, time.Now().UnixMilli(), s.maxAge.Milliseconds(), maxSessionsPerUser).Err()
	return id, err
}

// Valid reports whether the session is still open. An error means Redis
// could not tell; the caller refuses the request rather than trust a
// session that may have ended.
func (s *Sessions) Valid(ctx context.Context, userID int64, sessionID string) (bool, error) {
	if sessionID == "" {
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
	open, err := s.rdb.HExists(ctx, sessionKey(userID), sessionID).Result()
	if err != nil || !open {
		return false, err
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

// EndAll ends every session of the user.
func (s *Sessions) EndAll(ctx context.Context, userID int64) error {
	s.forget(userID, "")
	return s.rdb.Del(ctx, sessionKey(userID)).Err()
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
