package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a private redis-server process owned by one test.
type RedisServer struct {
	Addr string
	Dir  string
	t    testing.TB
	args []string
	cmd  *exec.Cmd
}

// RedisOptions tune the private server.
type RedisOptions struct {
	// AOF turns on appendonly with appendfsync always, as `make run` does,
	// so that a kill -9 loses nothing that was acknowledged.
	AOF bool
}

// StartRedis starts redis-server on a free loopback port, stopped in t.Cleanup.
func StartRedis(t testing.TB, o RedisOptions) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("testenv: redis-server is not on PATH; run `make test`, which installs it")
	}
	port := freePort(t)
	dir := t.TempDir()
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--save", "", "--daemonize", "no"}
	if o.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s := &RedisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, t: t, args: args}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func (s *RedisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	log, err := os.Create(filepath.Join(s.Dir, fmt.Sprintf("redis-%d.log", time.Now().UnixNano())))
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	for i := 0; i < 100; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("testenv: redis-server on %s did not start", s.Addr)
}

// Kill stops the server at once (SIGKILL), like a crash.
func (s *RedisServer) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts the server again on the same port and directory (AOF is replayed).
func (s *RedisServer) Restart() { s.Kill(); s.start() }

// Client returns a client of this server, closed in t.Cleanup.
func (s *RedisServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Redis is a client of a fresh private server.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	return StartRedis(t, RedisOptions{}).Client()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Pause freezes the server (SIGSTOP): it holds its connections but answers
// nothing, like a stalled machine, until Resume (also run in t.Cleanup, so a
// failed test never leaves it frozen for Kill).
func (s *RedisServer) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(s.Resume)
}

// Resume lets a paused server go on (SIGCONT).
func (s *RedisServer) Resume() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}
