// Package config reads the binary's configuration from the environment once,
// in main, into a validated struct that is passed down explicitly.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	// The zone database inside the binary: SHOP_TIMEZONE works on a machine
	// (or a container) without system zone files.
	_ "time/tzdata"

	"market/internal/db"
)

// Dev defaults reach the private servers that `make run` starts (tools/services.sh).
const (
	DefaultDatabaseURL   = "postgres://postgres@127.0.0.1:55432/market?sslmode=disable"
	DefaultRedisURL      = "redis://127.0.0.1:56379/0"
	devSessionSecret     = "dev-only-session-secret-change-me-in-production"
	DefaultAdminEmail    = "admin@opener.market"
	DefaultAdminPassword = "admin-password"
)

// Config is everything the binary can be told from outside.
type Config struct {
	Production bool
	LogLevel   slog.Level

	Addr        string
	MetricsAddr string
	// Instance names this process in /readyz (INSTANCE_NAME; hostname:port
	// of ADDR by default), so that behind a load balancer anyone can see
	// which instance answered.
	Instance string

	DatabaseURL string
	// DatabaseReadURL names a streaming replica of DatabaseURL for the
	// catalogue and search reads ("": every read goes to the primary).
	DatabaseReadURL string
	// ReadYourWritesWait is how long a read waits for the replica to replay
	// the reader's own write before reading the primary; ReplicaMaxLag is
	// the replay lag past which the replica serves no reads;
	// ReplicaProbeInterval is how often its health and lag are checked.
	ReadYourWritesWait   time.Duration
	ReplicaMaxLag        time.Duration
	ReplicaProbeInterval time.Duration

	RedisURL   string   // one node
	RedisAddrs []string // a Redis Cluster's seed addresses; wins over RedisURL
	// A claim is answered "claimed" only once this many replicas of its
	// Redis node hold it (WAIT, within RedisWaitTimeout): 1 on a Cluster, 0
	// on one node by default (docs/COUPONS.md, Replicas).
	RedisWaitReplicas int
	RedisWaitTimeout  time.Duration

	SessionSecret string
	SecureCookies bool
	// InsecureCookies lets production send session cookies over plain HTTP
	// (a TLS-terminating proxy that talks HTTP to the app is not it: the
	// browser sees HTTPS, so Secure cookies work there).
	InsecureCookies bool

	AdminEmail    string
	AdminPassword string

	RequestTimeout time.Duration
	ShutdownGrace  time.Duration
	// BodyReadTimeout bounds reading one request's body, so that a body
	// trickled in a byte at a time cannot hold a connection for minutes.
	BodyReadTimeout time.Duration

	// Budgets of a PostgreSQL connection (db.Budget; zero is no bound):
	// requests run statements of at most StatementTimeout; migrations,
	// seeding and consistency runs have their own pool, with
	// AdminStatementTimeout. A transaction idle for IdleInTxTimeout is ended.
	StatementTimeout      time.Duration
	AdminStatementTimeout time.Duration
	IdleInTxTimeout       time.Duration

	// Failed logins allowed per window before answering 429.
	LoginFailuresPerEmail int
	LoginFailuresPerAddr  int
	LoginWindow           time.Duration
	// Sign-ups allowed per client address per hour before answering 429.
	SignupLimitPerAddr int
	// PasswordHashConcurrency is how many argon2id hashes (19 MiB each)
	// run at once; 0 is one per core, and at least two.
	PasswordHashConcurrency int

	OrderLocking string // pessimistic | optimistic
	// TopUpDailyLimit caps one shopper's top-ups in 24 hours, in won.
	TopUpDailyLimit int64

	FlushBatch         int
	FlushInterval      time.Duration
	FlushReclaimIdle   time.Duration
	CouponSyncInterval time.Duration

	ConsistencyInterval time.Duration
	// LiveMaxStreams bounds the live remaining-count streams one instance
	// holds open; past it a page falls back to polling.
	LiveMaxStreams int

	// The waiting room in front of claims (internal/room): admissions per
	// second of each campaign (0: no room), how many may pass at once before
	// a line forms (0: one second's worth), how long an admitted ticket may
	// claim, and the live waiting streams one instance holds open.
	RoomAdmitPerSecond float64
	RoomBurst          int
	RoomAdmitWindow    time.Duration
	RoomMaxStreams     int

	// ShopZone is the shop's time zone (SHOP_TIMEZONE): pages show times in
	// it, JSON carries its offset, and admins enter campaign windows in it.
	ShopZone *time.Location
}

// FromEnv reads the environment through getenv (os.Getenv in main, a map in tests).
func FromEnv(getenv func(string) string) (Config, error) {
	e := env{get: getenv}
	c := Config{
		Production:              e.bool("MARKET_PRODUCTION", false),
		LogLevel:                e.level("LOG_LEVEL", slog.LevelInfo),
		Addr:                    e.str("ADDR", "localhost:8080"),
		MetricsAddr:             e.str("METRICS_ADDR", "127.0.0.1:9090"),
		Instance:                e.str("INSTANCE_NAME", ""),
		DatabaseURL:             e.str("DATABASE_URL", DefaultDatabaseURL),
		DatabaseReadURL:         e.str("DATABASE_READ_URL", ""),
		ReadYourWritesWait:      e.duration("READ_YOUR_WRITES_WAIT", 100*time.Millisecond),
		ReplicaMaxLag:           e.duration("REPLICA_MAX_LAG", time.Second),
		ReplicaProbeInterval:    e.duration("REPLICA_PROBE_INTERVAL", 250*time.Millisecond),
		RedisURL:                e.str("REDIS_URL", DefaultRedisURL),
		RedisAddrs:              e.list("REDIS_CLUSTER_ADDRS"),
		RedisWaitReplicas:       e.int("REDIS_WAIT_REPLICAS", -1),
		RedisWaitTimeout:        e.duration("REDIS_WAIT_TIMEOUT", 200*time.Millisecond),
		SessionSecret:           e.str("SESSION_SECRET", ""),
		SecureCookies:           e.bool("SECURE_COOKIES", false),
		InsecureCookies:         e.bool("ALLOW_INSECURE_COOKIES", false),
		AdminEmail:              strings.ToLower(e.str("ADMIN_EMAIL", "")),
		AdminPassword:           e.str("ADMIN_PASSWORD", ""),
		RequestTimeout:          e.duration("REQUEST_TIMEOUT", 15*time.Second),
		BodyReadTimeout:         e.duration("BODY_READ_TIMEOUT", 30*time.Second),
		StatementTimeout:        e.duration("STATEMENT_TIMEOUT", 5*time.Second),
		AdminStatementTimeout:   e.duration("ADMIN_STATEMENT_TIMEOUT", time.Hour),
		IdleInTxTimeout:         e.duration("IDLE_IN_TRANSACTION_TIMEOUT", 10*time.Second),
		TopUpDailyLimit:         int64(e.int("TOPUP_DAILY_LIMIT", 5_000_000)),
		ShutdownGrace:           e.duration("SHUTDOWN_GRACE", 20*time.Second),
		LoginFailuresPerEmail:   e.int("LOGIN_FAILURES_PER_EMAIL", 10),
		LoginFailuresPerAddr:    e.int("LOGIN_FAILURES_PER_ADDR", 100),
		LoginWindow:             e.duration("LOGIN_WINDOW", 15*time.Minute),
		SignupLimitPerAddr:      e.int("SIGNUP_LIMIT_PER_ADDR", 20),
		PasswordHashConcurrency: e.int("PASSWORD_HASH_CONCURRENCY", 0),
		OrderLocking:            e.str("ORDER_LOCKING", "pessimistic"),
		FlushBatch:              e.int("FLUSH_BATCH", 200),
		FlushInterval:           e.duration("FLUSH_INTERVAL", 200*time.Millisecond),
		FlushReclaimIdle:        e.duration("FLUSH_RECLAIM_IDLE", 30*time.Second),
		CouponSyncInterval:      e.duration("COUPON_SYNC_INTERVAL", time.Second),
		ConsistencyInterval:     e.duration("CONSISTENCY_INTERVAL", 5*time.Minute),
		ShopZone:                e.zone("SHOP_TIMEZONE", "Asia/Seoul"),
		LiveMaxStreams:          e.int("LIVE_MAX_STREAMS", 2000),
		RoomAdmitPerSecond:      e.float("ROOM_ADMIT_PER_SECOND", 0),
		RoomBurst:               e.int("ROOM_BURST", 0),
		RoomAdmitWindow:         e.duration("ROOM_ADMIT_WINDOW", 2*time.Minute),
		RoomMaxStreams:          e.int("ROOM_MAX_STREAMS", 5000),
	}
	if e.err != nil {
		return Config{}, e.err
	}
	c.derive()
	return c, c.validate()
}

// derive fills the settings whose defaults depend on others.
func (c *Config) derive() {
	if c.RedisWaitReplicas == -1 {
		c.RedisWaitReplicas = 0
		if len(c.RedisAddrs) > 0 {
			c.RedisWaitReplicas = 1
		}
	}
	if c.Instance == "" {
		c.Instance = defaultInstance(c.Addr)
	}
	if !c.Production {
		if c.SessionSecret == "" {
			c.SessionSecret = devSessionSecret
		}
		if c.AdminEmail == "" {
			c.AdminEmail = DefaultAdminEmail
		}
		if c.AdminPassword == "" {
			c.AdminPassword = DefaultAdminPassword
		}
	}
}

func (c Config) validate() error {
	var errs []error
	if len(c.SessionSecret) < 32 {
		errs = append(errs, errors.New("SESSION_SECRET must be at least 32 characters"))
	}
	if c.Production {
		if c.SessionSecret == devSessionSecret {
			errs = append(errs, errors.New("SESSION_SECRET must be set to a real secret in production"))
		}
		if c.AdminEmail == "" || len(c.AdminPassword) < 12 || c.AdminPassword == DefaultAdminPassword {
			errs = append(errs, errors.New("ADMIN_EMAIL and a real ADMIN_PASSWORD (12+ characters) are required in production"))
		}
		if !c.SecureCookies && !c.InsecureCookies {
			errs = append(errs, errors.New("production sends session cookies over HTTPS only: set SECURE_COOKIES=true, or ALLOW_INSECURE_COOKIES=true to accept plain HTTP"))
		}
	}
	if c.LoginFailuresPerEmail < 1 || c.LoginFailuresPerAddr < 1 || c.SignupLimitPerAddr < 1 {
		errs = append(errs, errors.New("LOGIN_FAILURES_PER_EMAIL, LOGIN_FAILURES_PER_ADDR and SIGNUP_LIMIT_PER_ADDR must be at least 1"))
	}
	if c.LoginWindow < time.Second {
		errs = append(errs, errors.New("LOGIN_WINDOW must be at least 1s"))
	}
	if c.PasswordHashConcurrency < 0 {
		errs = append(errs, errors.New("PASSWORD_HASH_CONCURRENCY must be 0 (one per core) or more"))
	}
	if c.TopUpDailyLimit < 1 {
		errs = append(errs, errors.New("TOPUP_DAILY_LIMIT must be at least 1 (won)"))
	}
	if c.OrderLocking != "pessimistic" && c.OrderLocking != "optimistic" {
		errs = append(errs, fmt.Errorf("ORDER_LOCKING must be pessimistic or optimistic, not %q", c.OrderLocking))
	}
	if c.FlushBatch < 1 || c.FlushBatch > 10000 {
		errs = append(errs, errors.New("FLUSH_BATCH must be between 1 and 10000"))
	}
	if c.RedisWaitReplicas < 0 || c.RedisWaitReplicas > 16 {
		errs = append(errs, errors.New("REDIS_WAIT_REPLICAS must be between 0 and 16"))
	}
	// The connection's own read timeout (1 s, docs/README) must outlast WAIT.
	if c.RedisWaitTimeout < time.Millisecond || c.RedisWaitTimeout > 800*time.Millisecond {
		errs = append(errs, errors.New("REDIS_WAIT_TIMEOUT must be between 1ms and 800ms"))
	}
	if c.LiveMaxStreams < 1 {
		errs = append(errs, errors.New("LIVE_MAX_STREAMS must be at least 1"))
	}
	if c.ReplicaProbeInterval < 10*time.Millisecond || c.ReplicaMaxLag < c.ReplicaProbeInterval {
		errs = append(errs, errors.New("REPLICA_PROBE_INTERVAL must be at least 10ms, and REPLICA_MAX_LAG at least REPLICA_PROBE_INTERVAL (the lag is known to one probe)"))
	}
	if c.RoomAdmitPerSecond < 0 || c.RoomAdmitPerSecond > 1_000_000 || c.RoomBurst < 0 || c.RoomMaxStreams < 1 {
		errs = append(errs, errors.New("ROOM_ADMIT_PER_SECOND must be 0 (no waiting room) to 1,000,000, ROOM_BURST 0 or more, ROOM_MAX_STREAMS at least 1"))
	}
	if c.RoomAdmitWindow < time.Second {
		errs = append(errs, errors.New("ROOM_ADMIT_WINDOW must be at least 1s"))
	}
	if c.CouponSyncInterval < 10*time.Millisecond {
		errs = append(errs, errors.New("COUPON_SYNC_INTERVAL must be at least 10ms"))
	}
	return errors.Join(errs...)
}

// defaultInstance is the host's name and ADDR's port: unique per process on
// one machine, and the same across restarts.
func defaultInstance(addr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "" {
		return net.JoinHostPort(host, port)
	}
	return host
}

// env collects the first parse error so FromEnv reads as a plain list.
type env struct {
	get func(string) string
	err error
}

func (e *env) str(key, def string) string {
	if v := strings.TrimSpace(e.get(key)); v != "" {
		return v
	}
	return def
}

func (e *env) list(key string) []string {
	var out []string
	for _, s := range strings.Split(e.get(key), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (e *env) int(key string, def int) int {
	v := e.get(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(key, v)
		return def
	}
	return n
}

func (e *env) float(key string, def float64) float64 {
	v := e.get(key)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		e.fail(key, v)
		return def
	}
	return f
}

func (e *env) bool(key string, def bool) bool {
	v := e.get(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(key, v)
		return def
	}
	return b
}

func (e *env) duration(key string, def time.Duration) time.Duration {
	v := e.get(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.fail(key, v)
		return def
	}
	return d
}

func (e *env) zone(key, def string) *time.Location {
	name := e.str(key, def)
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		// "Local" would hand the choice back to the machine, which is what
		// the setting exists to avoid.
		e.fail(key, name)
		loc, _ = time.LoadLocation(def)
	}
	return loc
}

func (e *env) level(key string, def slog.Level) slog.Level {
	v := e.get(key)
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		e.fail(key, v)
		return def
	}
	return l
}

func (e *env) fail(key, v string) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: cannot parse %q", key, v)
	}
}

// RequestBudget bounds what one request may do on a connection: the pool
// serve gives requests, and the benches' copies of it.
func (c Config) RequestBudget() db.Budget {
	return db.Budget{Statement: c.StatementTimeout, IdleInTx: c.IdleInTxTimeout}
}

// AdminBudget is the larger budget of migrations, seeding and consistency runs.
func (c Config) AdminBudget() db.Budget {
	return db.Budget{Statement: c.AdminStatementTimeout, IdleInTx: c.IdleInTxTimeout}
}
