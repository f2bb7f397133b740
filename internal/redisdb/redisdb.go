// Package redisdb opens the Redis client: one node from a URL, or a Redis
// Cluster from a list of seed addresses, behind redis.UniversalClient.
package redisdb

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// DefaultPoolSize is the connections per Redis node when REDIS_URL does not
// say (`?pool_size=N`). go-redis's own default, 10 per CPU (20 on the 2-core
// machine), made a storm of 500 concurrent claims queue for a connection;
// an idle connection costs two 32 KiB buffers, so 256 cost about 16 MB.
const DefaultPoolSize = 256

// Open connects and pings. clusterAddrs wins over url when set.
func Open(ctx context.Context, url string, clusterAddrs []string) (redis.UniversalClient, error) {
	var client redis.UniversalClient
	if len(clusterAddrs) > 0 {
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: clusterAddrs, PoolSize: DefaultPoolSize})
	} else {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("parse REDIS_URL: %w", err)
		}
		if opts.PoolSize == 0 {
			opts.PoolSize = DefaultPoolSize
		}
		client = redis.NewClient(opts)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("reach Redis: %w", err)
	}
	return client, nil
}
