package coupon_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"market/internal/coupon"
	"market/internal/errs"
	"market/internal/redisdb"
	"market/internal/testenv"
)

// On a Cluster with replicas, a claim is answered "claimed" only once the
// replica of the campaign's primary holds it (WAIT on the primary's own
// connection, right after the claim). With that replica frozen, the claim
// still runs in the primary but is answered 503 "unconfirmed"; a retry after
// the replica is back answers already_claimed. Were WAIT sent to another
// primary, its replicas, with nothing to wait for, would answer at once and
// the frozen case would say "claimed": this test would fail (it did, with
// WAIT sent that way).
func TestAClaimIsAnsweredOnlyOnceItsReplicaHoldsIt(t *testing.T) {
	pool := testenv.DB(t)
	cluster := testenv.StartClusterWith(t, testenv.ClusterOptions{Replicas: 1})
	cc := cluster.Client(t)
	s := coupon.NewService(pool, cc, coupon.Options{Flush: fastFlush, Wait: redisdb.Wait{Replicas: 1, Timeout: 150 * time.Millisecond}})
	shoppers := users(t, pool, 3)
	id := activeCampaign(t, s, 10)
	startFlusher(t, s)
	key := fmt.Sprintf("coupon:{%d}:claimed", id)
	primary, replica := cluster.Shard(t, key)
	if replica == nil {
		t.Fatalf("the primary %s of campaign %d has no replica in sync", primary.Addr, id)
	}
	o, err := s.Claim(t.Context(), id, shoppers[0])
	if err != nil || o.Result != coupon.Claimed {
		t.Fatalf("claim with the replica up: %+v, %v", o, err)
	}
	if !heldOnReplica(t, replica, key, shoppers[0]) {
		t.Fatal("answered claimed, but the replica does not hold the claim yet")
	}

	replica.Pause()
	began := time.Now()
	o, err = s.Claim(t.Context(), id, shoppers[1])
	took := time.Since(began)
	if e, ok := errs.As(err); !ok || e.Code != errs.Unavailable || !errors.Is(err, redisdb.ErrNotReplicated) {
		t.Fatalf("claim with the replica frozen: %+v, %v; want unavailable (not replicated)", o, err)
	}
	if took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("the unconfirmed answer took %v; want about the 150 ms WAIT timeout", took)
	}
	if held, err := primary.Client().HExists(t.Context(), key, fmt.Sprint(shoppers[1])).Result(); err != nil || !held {
		t.Fatalf("the unconfirmed claim is not in the primary: %v %v", held, err)
	}
	replica.Resume()

	deadline := time.Now().Add(5 * time.Second)
	for {
		o, err = s.Claim(t.Context(), id, shoppers[1])
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || o.Result != coupon.AlreadyClaimed || o.Remaining != 8 {
		t.Fatalf("retry after the replica is back: %+v, %v; want already_claimed, 8 left", o, err)
	}
	// Answers that wrote nothing need no replica: sold out, already claimed.
	if o, err := s.Claim(t.Context(), id, shoppers[0]); err != nil || o.Result != coupon.AlreadyClaimed {
		t.Fatalf("a repeat claim: %+v, %v", o, err)
	}
	waitPersisted(t, pool, id, 2, 10*time.Second)
}

// A primary with no replica attached (a lone node, or a replica just
// promoted) cannot lose a claim to a failover: its claims are answered on its
// AOF. Only the first pipeline, before the node has said so (ROLE), waits.
func TestAPrimaryWithoutReplicasAnswersWithoutWaiting(t *testing.T) {
	pool := testenv.DB(t)
	srv := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	s := coupon.NewService(pool, srv.Client(), coupon.Options{Flush: fastFlush, Wait: redisdb.Wait{Replicas: 1, Timeout: 300 * time.Millisecond}})
	shoppers := users(t, pool, 5)
	id := activeCampaign(t, s, 10)
	for i, u := range shoppers {
		began := time.Now()
		o, err := s.Claim(t.Context(), id, u)
		took := time.Since(began)
		if err != nil || o.Result != coupon.Claimed {
			t.Fatalf("claim %d: %+v, %v", i, o, err)
		}
		if i > 0 && took >= 300*time.Millisecond {
			t.Errorf("claim %d waited %v for a replica the node does not have", i, took)
		}
	}
}

// heldOnReplica reads a shopper's entry in the claimed hash from the replica
// itself (READONLY: a replica answers reads of its own slots instead of MOVED).
func heldOnReplica(t *testing.T, replica *testenv.RedisServer, key string, user int64) bool {
	t.Helper()
	pipe := replica.Client().Pipeline()
	pipe.ReadOnly(t.Context())
	held := pipe.HExists(t.Context(), key, fmt.Sprint(user))
	if _, err := pipe.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	return held.Val()
}

// A striped campaign's stock moves go through the same waiting pipelines as
// claims (a take that a failover lost must not have been given). Under uneven
// demand on a Cluster with a replica per primary, the stripes borrow through
// them (90 claims need 30 units moved to stripe 0), every coupon is issued
// once, and each stripe's replica ends with its primary's stock. Replication
// would catch up without WAIT too: this proves the waited path works, not
// that it waits.
func TestStripeMovesWaitForTheirReplicas(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	pool := testenv.DB(t)
	cluster := testenv.StartClusterWith(t, testenv.ClusterOptions{Replicas: 1})
	cc := cluster.Client(t)
	s := coupon.NewService(pool, cc, coupon.Options{Flush: fastFlush, Wait: redisdb.Wait{Replicas: 1, Timeout: time.Second}})
	startFlusher(t, s)
	shoppers := skewed(t, pool, 3, []int{120, 20, 10}, rand.New(rand.NewPCG(uint64(seed), 2)))
	const total = 90
	id := stripedCampaign(t, s, total, 3)
	winners, results, failures := storm(t, s, id, shoppers, 0)
	if failures != 0 || len(winners) != total || results[coupon.Claimed] != total {
		t.Fatalf("claimed %d (%d shoppers), want %d; failures %d, results %v", results[coupon.Claimed], len(winners), total, failures, results)
	}
	waitPersisted(t, pool, id, total, 20*time.Second)
	checkPersisted(t, pool, id, winners, total)
	for stripe := range 3 {
		key := coupon.StockKey(id, stripe, 3)
		primary, replica := cluster.Shard(t, key)
		if replica == nil {
			t.Fatalf("stripe %d: its primary %s has no replica in sync", stripe, primary.Addr)
		}
		pipe := replica.Client().Pipeline()
		pipe.ReadOnly(t.Context())
		onReplica := pipe.Get(t.Context(), key)
		if _, err := pipe.Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		onPrimary, err := primary.Client().Get(t.Context(), key).Result()
		if err != nil || onReplica.Val() != onPrimary {
			t.Errorf("stripe %d: stock %q on the replica, %q on the primary (%v)", stripe, onReplica.Val(), onPrimary, err)
		}
	}
	consistent(t, pool, s)
}
