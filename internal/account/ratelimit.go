package account

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/errs"
)

var (
	//go:embed reserve.lua
	reserveSrc string
	//go:embed release.lua
	releaseSrc string

	reserveScript = redis.NewScript(reserveSrc)
	releaseScript = redis.NewScript(releaseSrc)
)

// signupWindow: SIGNUP_LIMIT_PER_ADDR counts sign-ups per address per hour (README, Configuration).
const signupWindow = time.Hour

// budget is a fixed-window count of attempts per subject (an email, an
// address) in Redis. An attempt takes its unit before it is judged, so a
// crowd arriving at once cannot all pass a check made before any of them
// counted; an attempt that turns out not to count gives its unit back.
type budget struct {
	rdb    redis.UniversalClient
	prefix string // the key is prefix + subject
	limit  int    // units per window; 0 is no limit
	window time.Duration
}

// take reserves one unit for subject. When the budget is spent, ok is false
// and wait is how long until its window ends.
func (b budget) take(ctx context.Context, subject string) (ok bool, wait time.Duration, err error) {
	if b.limit <= 0 {
		return true, 0, nil
	}
	res, err := reserveScript.Run(ctx, b.rdb, []string{b.prefix + subject}, b.limit, b.window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("reserve.lua returned %v", res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}

// giveBack returns a unit taken by take in the same window.
func (b budget) giveBack(ctx context.Context, subject string) error {
	if b.limit <= 0 {
		return nil
	}
	return releaseScript.Run(ctx, b.rdb, []string{b.prefix + subject}).Err()
}

// limiters are the account budgets (README, Configuration): failed logins per email and per
// client address, and sign-ups per address.
type limiters struct {
	loginEmail, loginAddr, signupAddr budget
}

func newLimiters(rdb redis.UniversalClient, l Limits) limiters {
	return limiters{
		loginEmail: budget{rdb: rdb, prefix: "ratelimit:login:email:", limit: l.PerEmail, window: l.Window},
		loginAddr:  budget{rdb: rdb, prefix: "ratelimit:login:addr:", limit: l.PerAddr, window: l.Window},
		signupAddr: budget{rdb: rdb, prefix: "ratelimit:signup:addr:", limit: l.SignupPerAddr, window: signupWindow},
	}
}

// takeLogin reserves a login attempt from the address's budget and the
// email's, or answers TooManyRequests with the time to wait. The two keys
// may live on different cluster slots, so each is its own script call; an
// attempt refused by the second gives the first its unit back.
func (l limiters) takeLogin(ctx context.Context, email, addr string) error {
	ok, wait, err := l.loginAddr.take(ctx, addr)
	if err != nil {
		return err
	}
	if !ok {
		return tooMany("Too many failed logins from your network.", wait)
	}
	ok, wait, err = l.loginEmail.take(ctx, email)
	if err == nil && ok {
		return nil
	}
	_ = l.loginAddr.giveBack(context.WithoutCancel(ctx), addr)
	if err != nil {
		return err
	}
	return tooMany("Too many failed logins for this account.", wait)
}

// giveBackLogin returns an attempt's units: it logged in, or it was never
// judged. A unit that cannot be given back counts as a failure until its
// window ends, which errs on the safe side, so the error is dropped.
func (l limiters) giveBackLogin(ctx context.Context, email, addr string) {
	ctx = context.WithoutCancel(ctx) // the units are owed even if the client went away
	_ = l.loginEmail.giveBack(ctx, email)
	_ = l.loginAddr.giveBack(ctx, addr)
}

// takeSignup reserves a sign-up from the address's hourly budget.
func (l limiters) takeSignup(ctx context.Context, addr string) error {
	ok, wait, err := l.signupAddr.take(ctx, addr)
	if err != nil {
		return err
	}
	if !ok {
		return tooMany("Too many sign-ups from your network.", wait)
	}
	return nil
}

func (l limiters) giveBackSignup(ctx context.Context, addr string) {
	_ = l.signupAddr.giveBack(context.WithoutCancel(ctx), addr)
}

// tooMany is the 429 of a spent budget; RetryAfter becomes the header.
func tooMany(what string, wait time.Duration) error {
	wait = max(wait, time.Second)
	return &errs.Error{Code: errs.TooManyRequests, Message: what + " Please try again " + inAbout(wait) + ".", RetryAfter: wait}
}

// inAbout says a wait the way a person would, rounded up.
func inAbout(d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	switch {
	case secs <= 1:
		return "in a second"
	case secs < 120:
		return "in " + strconv.Itoa(secs) + " seconds"
	default:
		return "in " + strconv.Itoa((secs+59)/60) + " minutes"
	}
}
