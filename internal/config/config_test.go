package config

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDevDefaultsReachTheMakeRunServers(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != DefaultDatabaseURL || c.RedisURL != DefaultRedisURL || c.AdminEmail != DefaultAdminEmail || c.OrderLocking != "pessimistic" ||
		c.DatabaseReadURL != "" || c.ReadYourWritesWait != 100*time.Millisecond || c.ReplicaMaxLag != time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestProductionRefusesToStartWithoutRealSecrets(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"nothing set", map[string]string{"MARKET_PRODUCTION": "true"}, "SESSION_SECRET"},
		{"dev secret", map[string]string{"MARKET_PRODUCTION": "true", "SESSION_SECRET": devSessionSecret, "ADMIN_EMAIL": "a@b.co", "ADMIN_PASSWORD": "a-long-real-password"}, "real secret"},
		{"short secret", map[string]string{"MARKET_PRODUCTION": "true", "SESSION_SECRET": "short", "ADMIN_EMAIL": "a@b.co", "ADMIN_PASSWORD": "a-long-real-password"}, "at least 32"},
		{"no admin password", map[string]string{"MARKET_PRODUCTION": "true", "SESSION_SECRET": strings.Repeat("s", 40), "ADMIN_EMAIL": "a@b.co"}, "ADMIN_PASSWORD"},
		{"dev admin password", map[string]string{"MARKET_PRODUCTION": "true", "SESSION_SECRET": strings.Repeat("s", 40), "ADMIN_EMAIL": "a@b.co", "ADMIN_PASSWORD": DefaultAdminPassword}, "ADMIN_PASSWORD"},
		{"plain-HTTP cookies", map[string]string{"MARKET_PRODUCTION": "true", "SESSION_SECRET": strings.Repeat("s", 40), "ADMIN_EMAIL": "a@b.co", "ADMIN_PASSWORD": "a-long-real-password"}, "SECURE_COOKIES"},
		{"bad locking", map[string]string{"ORDER_LOCKING": "yolo"}, "ORDER_LOCKING"},
		{"unparsable duration", map[string]string{"FLUSH_INTERVAL": "soon"}, "FLUSH_INTERVAL"},
		{"unparsable number", map[string]string{"FLUSH_BATCH": "many"}, "FLUSH_BATCH"},
		{"replica lag below one probe", map[string]string{"REPLICA_MAX_LAG": "100ms", "REPLICA_PROBE_INTERVAL": "250ms"}, "REPLICA_MAX_LAG"},
		{"replica probe too often", map[string]string{"REPLICA_PROBE_INTERVAL": "1ms"}, "REPLICA_PROBE_INTERVAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEnv(envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
	ok := map[string]string{"MARKET_PRODUCTION": "true", "SESSION_SECRET": strings.Repeat("s", 40), "ADMIN_EMAIL": "Ops@Example.com",
		"ADMIN_PASSWORD": "a-long-real-password", "SECURE_COOKIES": "true"}
	c, err := FromEnv(envOf(ok))
	if err != nil || c.AdminEmail != "ops@example.com" || !c.SecureCookies {
		t.Fatalf("real secrets: %v %+v", err, c)
	}
	// Plain-HTTP cookies only when asked for by name.
	delete(ok, "SECURE_COOKIES")
	ok["ALLOW_INSECURE_COOKIES"] = "true"
	if _, err := FromEnv(envOf(ok)); err != nil {
		t.Fatalf("insecure cookies allowed by name: %v", err)
	}
}

func TestTheShopZoneDefaultsToSeoulAndRefusesUnknownZones(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ShopZone.String() != "Asia/Seoul" {
		t.Fatalf("default zone %s", c.ShopZone)
	}
	c, err = FromEnv(envOf(map[string]string{"SHOP_TIMEZONE": "Europe/Berlin"}))
	if err != nil || c.ShopZone.String() != "Europe/Berlin" {
		t.Fatalf("zone %v, err %v", c.ShopZone, err)
	}
	for _, bad := range []string{"Mars/Olympus", "Local", "../../etc/passwd"} {
		if _, err := FromEnv(envOf(map[string]string{"SHOP_TIMEZONE": bad})); err == nil || !strings.Contains(err.Error(), "SHOP_TIMEZONE") {
			t.Fatalf("%q: err = %v, want one naming SHOP_TIMEZONE", bad, err)
		}
	}
}

func TestTheWaitingRoomIsOffByDefaultAndTakesFractionalRates(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	if err != nil || c.RoomAdmitPerSecond != 0 {
		t.Fatalf("default rate %v, err %v", c.RoomAdmitPerSecond, err)
	}
	c, err = FromEnv(envOf(map[string]string{"ROOM_ADMIT_PER_SECOND": "0.2", "ROOM_BURST": "3", "ROOM_ADMIT_WINDOW": "30s"}))
	if err != nil || c.RoomAdmitPerSecond != 0.2 || c.RoomBurst != 3 || c.RoomAdmitWindow.Seconds() != 30 {
		t.Fatalf("room %v/%v/%v, err %v", c.RoomAdmitPerSecond, c.RoomBurst, c.RoomAdmitWindow, err)
	}
	for _, bad := range []map[string]string{{"ROOM_ADMIT_PER_SECOND": "-1"}, {"ROOM_ADMIT_PER_SECOND": "NaN"}, {"ROOM_ADMIT_PER_SECOND": "fast"},
		{"ROOM_ADMIT_PER_SECOND": "2e6"}, {"ROOM_BURST": "-2"}, {"ROOM_ADMIT_WINDOW": "100ms"}, {"ROOM_MAX_STREAMS": "0"}} {
		if _, err := FromEnv(envOf(bad)); err == nil || !strings.Contains(err.Error(), "ROOM_") {
			t.Errorf("%v: err = %v, want one naming the ROOM_ setting", bad, err)
		}
	}
}

// A Cluster waits for one replica per claim unless told otherwise; one node
// has none to wait for. The instance name defaults to host and port.
func TestClusterClaimsWaitForAReplicaByDefault(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		wantReplicas int
		wantErr      string
	}{
		{"one node", nil, 0, ""},
		{"cluster", map[string]string{"REDIS_CLUSTER_ADDRS": "127.0.0.1:7001,127.0.0.1:7002"}, 1, ""},
		{"cluster, told not to wait", map[string]string{"REDIS_CLUSTER_ADDRS": "127.0.0.1:7001", "REDIS_WAIT_REPLICAS": "0"}, 0, ""},
		{"one node with a replica", map[string]string{"REDIS_WAIT_REPLICAS": "1"}, 1, ""},
		{"negative", map[string]string{"REDIS_WAIT_REPLICAS": "-2"}, 0, "REDIS_WAIT_REPLICAS"},
		{"a timeout past the read timeout", map[string]string{"REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT": "2s"}, 0, "REDIS_WAIT_TIMEOUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(envOf(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RedisWaitReplicas != tc.wantReplicas {
				t.Fatalf("RedisWaitReplicas %d, want %d", c.RedisWaitReplicas, tc.wantReplicas)
			}
		})
	}
}

func TestTheInstanceIsNamedByHostAndPortUnlessNamed(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{"ADDR": "127.0.0.1:8081"}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(c.Instance, ":8081") || len(c.Instance) <= len(":8081") {
		t.Fatalf("default instance %q, want hostname:8081", c.Instance)
	}
	c, err = FromEnv(envOf(map[string]string{"ADDR": "127.0.0.1:8081", "INSTANCE_NAME": "app1"}))
	if err != nil || c.Instance != "app1" {
		t.Fatalf("instance %q, %v; want app1", c.Instance, err)
	}
}
