package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/coupon"
	"market/internal/db"
	"market/internal/redisdb"
	"market/internal/replica"
	"market/internal/room"
	"market/web"
)

// claimsServer: `market bench claims-server` — the server half of the claims
// benches, run by `bench claims` and `bench claims-open` as a child process
// so that the load generator does not share the server's CPU or memory. It
// serves the same handler and coupon service as `serve` (text access log,
// Prometheus metrics, write-back flusher), prints "listening ADDR" on
// stdout, and drains on SIGTERM.
func claimsServer(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("bench claims-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this server to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return err
	}
	defer pool.Close()
	rdb, err := redisdb.Open(ctx, cfg.RedisURL, cfg.RedisAddrs)
	if err != nil {
		return err
	}
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	svc := coupon.NewService(pool, rdb, coupon.Options{Log: log, Metrics: coupon.NewMetrics(reg), Flush: coupon.FlushOptions{
		Batch: cfg.FlushBatch, Interval: cfg.FlushInterval, ReclaimIdle: cfg.FlushReclaimIdle},
		Wait: redisdb.Wait{Replicas: cfg.RedisWaitReplicas, Timeout: cfg.RedisWaitTimeout}})
	var background sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopBackground(); background.Wait() }()
	background.Go(func() { svc.RunFlusher(bgCtx) })

	// The waiting room as `serve` builds it, when ROOM_ADMIT_PER_SECOND asks for one (bench room).
	waiting, err := room.New(rdb, room.Options{Rate: cfg.RoomAdmitPerSecond, Burst: cfg.RoomBurst, Window: cfg.RoomAdmitWindow,
		MaxStreams: cfg.RoomMaxStreams, Key: room.KeyFrom(cfg.SessionSecret), Metrics: reg})
	if err != nil {
		return err
	}
	handler := web.New(web.Deps{Log: log, Config: cfg, Pool: pool, Redis: rdb, Metrics: reg,
		Accounts: account.NewService(pool, rdb, account.Limits{PerEmail: 10, PerAddr: 100, Window: time.Minute}),
		Catalog:  catalog.NewService(replica.PrimaryOnly(pool)), Coupons: svc, Room: waiting})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	// The shop's handler, and its metrics for the bench to read (claims_serverside.go).
	mux := http.NewServeMux()
	mux.Handle("/bench/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// child is a `bench claims-server` process.
type child struct {
	cmd  *exec.Cmd
	addr string
	log  string
}

// startServer starts `market bench claims-server` (this binary) and waits
// until it listens. Its log (the access log `serve` writes) goes to a file
// named after the bench; env (KEY=value) is added to this process's environment.
func startServer(name, cpuprofile string, env ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.CreateTemp("", "market-bench-"+name+"-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"bench", "claims-server"}
	if cpuprofile != "" {
		args = append(args, "-cpuprofile", cpuprofile)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, log: logf.Name()}
	line, err := bufio.NewReader(out).ReadString('\n')
	if addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening "); err == nil && ok {
		c.addr = addr
		return c, nil
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("bench server (%s) did not start: %q %v; see %s", name, line, err, c.log)
}

// peakRSS is the child's peak resident memory so far (VmHWM), in bytes.
func (c *child) peakRSS() int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuTime is the CPU the child has used so far (user + system).
func (c *child) cpuTime() time.Duration {
	st, _ := procStat(c.cmd.Process.Pid)
	return st.cpu
}

// selfCPU is this process's CPU so far (the load generator's, during a storm).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is a single Redis server's CPU so far (INFO cpu); 0 for a cluster.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) time.Duration {
	c, ok := rdb.(*redis.Client)
	if !ok {
		return 0
	}
	info, err := c.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// stop sends SIGTERM (the server drains its flusher) and waits.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		return errors.Join(errors.New("bench server did not stop in 30 s"), <-done)
	}
}
