package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a local Redis Cluster owned by one test: three primaries, each
// with ClusterOptions.Replicas replicas.
type Cluster struct {
	Addrs []string
	nodes []*RedisServer
}

// ClusterOptions shape a test's cluster.
type ClusterOptions struct {
	// Replicas per primary (`--cluster-replicas`); 0 is three bare primaries.
	Replicas int
	// AOF turns on appendonly with appendfsync always, as `make cluster` does.
	AOF bool
	// NodeTimeout is cluster-node-timeout: how long a silent primary takes
	// to be failed over to its replica. Default 5 s.
	NodeTimeout time.Duration
}

// StartCluster starts a three-primary cluster without replicas (StartClusterWith).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{})
}

// StartClusterWith starts 3×(1+Replicas) cluster-enabled redis-server
// processes on free ports, joins them with `redis-cli --cluster create`, waits
// until every slot is served and every replica is in sync, and stops them in
// t.Cleanup.
func StartClusterWith(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("testenv: redis-cli is not on PATH; run `make test`, which installs it")
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = 5 * time.Second
	}
	c := &Cluster{}
	for range 3 * (1 + o.Replicas) {
		port := clusterPort(t)
		dir := t.TempDir()
		args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--save", "", "--daemonize", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + strconv.Itoa(port) + ".conf",
			"--cluster-node-timeout", strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10)}
		if o.AOF {
			args = append(args, "--appendonly", "yes", "--appendfsync", "always")
		} else {
			args = append(args, "--appendonly", "no")
		}
		s := &RedisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, t: t, args: args}
		s.start()
		t.Cleanup(s.Kill)
		c.nodes = append(c.nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(o.Replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitReady(t, o.Replicas)
	return c
}

// clusterPort is a free port whose cluster bus (port + 10000) is a valid port too.
func clusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		if p := freePort(t); p+10000 <= 65535 {
			return p
		}
	}
	t.Fatal("testenv: no free port below 55536 for a cluster node")
	return 0
}

var replicaLine = regexp.MustCompile(`(?m)^slave\d+:ip=([^,]+),port=(\d+),state=(\w+)`)

// waitReady waits until every node says cluster_state:ok and every primary
// has its replicas online, so that the first WAIT of a test is not a
// replica still loading.
func (c *Cluster) waitReady(t testing.TB, replicas int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range c.Addrs {
		n := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := n.ClusterInfo(context.Background()).Result()
			ok := err == nil && strings.Contains(info, "cluster_state:ok")
			if ok && replicas > 0 {
				repl, err := n.Info(context.Background(), "replication").Result()
				primary := err == nil && strings.Contains(repl, "role:master")
				ok = err == nil && (!primary || len(online(repl)) >= replicas)
			}
			if ok {
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
}

// online lists the addresses of a primary's replicas that are in sync.
func online(replication string) []string {
	var out []string
	for _, m := range replicaLine.FindAllStringSubmatch(replication, -1) {
		if m[3] == "online" {
			out = append(out, net.JoinHostPort(m[1], m[2]))
		}
	}
	return out
}

// Client returns a cluster client (a redis.UniversalClient), closed in t.Cleanup.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// Shard returns the primary that serves key's slot now and its first
// replica in sync (nil without one).
func (c *Cluster) Shard(t testing.TB, key string) (primary, replica *RedisServer) {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer cc.Close()
	m, err := cc.MasterForKey(context.Background(), key)
	if err != nil {
		t.Fatalf("testenv: primary of %q: %v", key, err)
	}
	primary = c.node(t, m.Options().Addr)
	repl, err := m.Info(context.Background(), "replication").Result()
	if err != nil {
		t.Fatalf("testenv: INFO replication of %s: %v", primary.Addr, err)
	}
	if r := online(repl); len(r) > 0 {
		replica = c.node(t, r[0])
	}
	return primary, replica
}

func (c *Cluster) node(t testing.TB, addr string) *RedisServer {
	t.Helper()
	for _, n := range c.nodes {
		if n.Addr == addr {
			return n
		}
	}
	t.Fatalf("testenv: %s is not a node of this cluster (%v)", addr, c.Addrs)
	return nil
}

// String names the nodes, for failure messages.
func (c *Cluster) String() string { return fmt.Sprint(c.Addrs) }
