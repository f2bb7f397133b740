// Package redisdb opens the Redis client: one node from a URL, or a Redis
// Cluster from a list of seed addresses, behind redis.UniversalClient.
package redisdb

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPoolSize is the connections per Redis node when REDIS_URL does not
// say (`?pool_size=N`). go-redis's own default, 10 per CPU (20 on the 2-core
// machine), made a storm of 500 concurrent claims queue for a connection;
// an idle connection costs two 32 KiB buffers, so 256 cost about 16 MB.
const DefaultPoolSize = 256

// A Redis that stops answering (a frozen node, a network partition) must
// become a quick 503, not a request that waits out its deadline: each
// command waits at most ioTimeout and is tried at most twice, unless
// REDIS_URL says otherwise (`read_timeout`, `write_timeout`, `max_retries`).
// A claim answers within tens of milliseconds under a storm, so a second
// of silence is an outage.
const (
	ioTimeout  = time.Second
	maxRetries = 1
)

// Open connects and pings. clusterAddrs wins over url when set.
func Open(ctx context.Context, url string, clusterAddrs []string) (redis.UniversalClient, error) {
	var client redis.UniversalClient
	if len(clusterAddrs) > 0 {
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: clusterAddrs, PoolSize: DefaultPoolSize,
			ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, MaxRetries: maxRetries})
	} else {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("parse REDIS_URL: %w", err)
		}
		if opts.PoolSize == 0 {
			opts.PoolSize = DefaultPoolSize
		}
		if opts.ReadTimeout == 0 {
			opts.ReadTimeout = ioTimeout
		}
		if opts.WriteTimeout == 0 {
			opts.WriteTimeout = ioTimeout
		}
		if opts.MaxRetries == 0 {
			opts.MaxRetries = maxRetries
		}
		client = redis.NewClient(opts)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("reach Redis: %w", err)
	}
	return client, nil
}

// WithoutRetries is a client of the same servers, with the same options,
// that never sends a command twice. A script whose second run answers
// differently needs it: a claim that ran before its connection dropped (or
// before a read timed out) would be sent again and answered "already
// claimed", or "not active" if the campaign was paused meanwhile, while the
// shopper holds the coupon. Failing instead, it is answered 503 "try again",
// and trying again answers "already claimed" truthfully. The client has a
// connection pool of its own.
func WithoutRetries(c redis.UniversalClient) redis.UniversalClient {
	// The copy's push-notification processor is its own: a client registers
	// its handlers on it, and a shared one refuses the second client's.
	switch c := c.(type) {
	case *redis.Client:
		o := *c.Options()
		o.MaxRetries, o.PushNotificationProcessor = -1, nil
		return redis.NewClient(&o)
	case *redis.ClusterClient:
		o := *c.Options()
		o.MaxRetries, o.PushNotificationProcessor = -1, nil
		return redis.NewClusterClient(&o)
	}
	return c
}
