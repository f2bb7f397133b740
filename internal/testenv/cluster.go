package testenv

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a local three-master Redis Cluster owned by one test.
type Cluster struct {
	Addrs []string
	nodes []*RedisServer
}

// StartCluster starts three cluster-enabled redis-server processes on free
// ports, joins them with `redis-cli --cluster create`, and stops them in t.Cleanup.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("testenv: redis-cli is not on PATH")
	}
	c := &Cluster{}
	for range 3 {
		port := freePort(t)
		dir := t.TempDir()
		args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--save", "", "--daemonize", "no",
			"--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + strconv.Itoa(port) + ".conf",
			"--cluster-node-timeout", "5000"}
		s := &RedisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, t: t, args: args}
		s.start()
		t.Cleanup(s.Kill)
		c.nodes = append(c.nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must agree that all slots are served before tests use it.
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range c.Addrs {
		n := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := n.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				n.Close()
				t.Fatalf("testenv: cluster node %s not ready: %v %s", addr, err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
		n.Close()
	}
	return c
}

// Client returns a cluster client (a redis.UniversalClient), closed in t.Cleanup.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { cc.Close() })
	return cc
}
