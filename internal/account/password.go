package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"market/internal/errs"
)

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane) keeps a
// login around 20 ms on the 2-core machine while staying memory-hard.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// hashWait bounds how long a login or sign-up waits for a hashing slot
// before it is told to come back: long enough for a burst of a couple of
// hundred hashes (about 20 ms each) to drain on two cores, far shorter than
// a request's deadline.
const hashWait = 2 * time.Second

// errHashBusy is a full pool that stayed full for hashWait.
var errHashBusy = &errs.Error{Code: errs.Busy, Message: "We are very busy right now. Please try again in a moment.", RetryAfter: time.Second}

// hashSlots bounds how many argon2id computations run at once. Each holds
// argonMemory (19 MiB) while it runs, so without a bound a crowd of n logins or
// sign-ups asks for n × 19 MiB at once; with one, memory stays near
// slots × 19 MiB and the rest wait their turn (briefly) or come back later.
type hashSlots struct {
	slots chan struct{}
	wait  time.Duration
}

// newHashSlots makes n slots; n ≤ 0 is one per core, and at least two.
func newHashSlots(n int) hashSlots {
	if n <= 0 {
		n = max(2, runtime.GOMAXPROCS(0))
	}
	return hashSlots{slots: make(chan struct{}, n), wait: hashWait}
}

// run calls fn in a slot: at once when one is free, after a bounded wait
// otherwise, and never when the wait runs out (errHashBusy) or ctx ends.
func (h hashSlots) run(ctx context.Context, fn func()) error {
	select {
	case h.slots <- struct{}{}:
	default:
		t := time.NewTimer(h.wait)
		defer t.Stop()
		select {
		case h.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return errHashBusy
		}
	}
	defer func() { <-h.slots }()
	fn()
	return nil
}

// hash is HashPassword in a slot.
func (h hashSlots) hash(ctx context.Context, password string) (encoded string, err error) {
	if werr := h.run(ctx, func() { encoded, err = HashPassword(password) }); werr != nil {
		return "", werr
	}
	return encoded, err
}

// check is CheckPassword in a slot.
func (h hashSlots) check(ctx context.Context, encoded, password string) (ok bool, err error) {
	if werr := h.run(ctx, func() { ok, err = CheckPassword(encoded, password) }); werr != nil {
		return false, werr
	}
	return ok, err
}

// HashPassword returns a self-describing PHC string.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC string, in constant time.
func CheckPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("unknown password hash format")
	}
	var version int
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil {
		return false, err
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil {
		return false, err
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, err
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
