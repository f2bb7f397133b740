package account

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// loginLimiter counts failed logins per email and per client address in
// fixed Redis windows. Only failures count, so a shopper who types the right
// password is never locked out by their own successful logins.
type loginLimiter struct {
	rdb      redis.UniversalClient
	perEmail int
	perAddr  int
	window   time.Duration
}

func (l loginLimiter) keys(email, addr string) (string, string) {
	return "ratelimit:login:email:" + email, "ratelimit:login:addr:" + addr
}

// blocked reports whether either counter is at its limit.
func (l loginLimiter) blocked(ctx context.Context, email, addr string) (bool, error) {
	ek, ak := l.keys(email, addr)
	vals, err := l.rdb.MGet(ctx, ek, ak).Result()
	if err != nil {
		return false, err
	}
	return atLeast(vals[0], l.perEmail) || atLeast(vals[1], l.perAddr), nil
}

func atLeast(v any, limit int) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= limit
}

// fail counts one failed attempt against both keys.
func (l loginLimiter) fail(ctx context.Context, email, addr string) error {
	ek, ak := l.keys(email, addr)
	// Two keys may live on different cluster slots, so no MULTI across them.
	for _, k := range []string{ek, ak} {
		n, err := l.rdb.Incr(ctx, k).Result()
		if err != nil {
			return err
		}
		if n == 1 {
			if err := l.rdb.Expire(ctx, k, l.window).Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// reset forgets an email's failures after a successful login.
func (l loginLimiter) reset(ctx context.Context, email string) error {
	ek, _ := l.keys(email, "")
	return l.rdb.Del(ctx, ek).Err()
}
