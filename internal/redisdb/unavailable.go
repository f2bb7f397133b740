package redisdb

import (
	"errors"

	"github.com/redis/go-redis/v9"
)

// Unavailable reports whether err is Redis saying it cannot serve now (or
// the client giving up on it): loading its data, a replica that refuses
// writes, a Cluster without a quorum, a pool with no free connection, a
// closed client. Network errors are left to the caller's own test (they are
// not Redis's alone).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	for _, prefix := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "BUSY "} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}
