// Package redisdb opens the Redis client: one node from a URL, or a Redis
// Cluster from a list of seed addresses, behind redis.UniversalClient.
package redisdb

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Open connects and pings. clusterAddrs wins over url when set.
func Open(ctx context.Context, url string, clusterAddrs []string) (redis.UniversalClient, error) {
	var client redis.UniversalClient
	if len(clusterAddrs) > 0 {
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: clusterAddrs})
	} else {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("parse REDIS_URL: %w", err)
		}
		client = redis.NewClient(opts)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("reach Redis: %w", err)
	}
	return client, nil
}
