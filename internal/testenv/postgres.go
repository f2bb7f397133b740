package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresServer is a private PostgreSQL (initdb'd into a temp dir), owned by
// one test, which the test may stop and start again to see a real outage:
// Stop ends in-flight sessions with 57P01 and refuses new connections until
// Start. Its methods call t.Fatal, so call them from the test's goroutine.
type PostgresServer struct {
	t    testing.TB
	bin  string // directory holding initdb, pg_ctl, postgres
	base string // our temp dir: data/ and pg.log
	port int
	// settings are the server's own command-line settings (a replica's
	// must match its primary's: see StartReplica).
	settings string
}

// StartPostgres initdb's a new cluster into a temp dir and starts it on a
// free loopback port; it is stopped and its directory removed in t.Cleanup.
// As root (CI), initdb and pg_ctl run as the `postgres` user, as
// tools/services.sh does.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	s := newServer(t, "-c max_connections=100")
	args := []string{"-D", s.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=" + initdbLocale(), "--no-sync"}
	began := time.Now()
	if out, err := s.pgCmd(filepath.Join(s.bin, "initdb"), args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	t.Logf("testenv: initdb took %v", time.Since(began).Round(time.Millisecond))
	s.Start()
	return s
}

// newServer makes the directory of a server that is not started yet, on a
// free port, owned by `postgres` when we are root; it is stopped and
// removed in t.Cleanup.
func newServer(t testing.TB, settings string) *PostgresServer {
	t.Helper()
	s := &PostgresServer{t: t, bin: pgBinDir(t), port: freePort(t), settings: settings}
	// Not t.TempDir(): it is mode 0700 under a parent that `postgres` may not enter.
	base, err := os.MkdirTemp(os.TempDir(), "market-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s.base = base
	t.Cleanup(s.cleanup)
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: running as root, but there is no `postgres` user to run PostgreSQL as (%v); run `make test`, which installs PostgreSQL", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
		if out, err := s.pgCmd("test", "-x", base).CombinedOutput(); err != nil {
			t.Fatalf("testenv: user postgres cannot enter %s (%v %s); set TMPDIR to a directory every user can enter", base, err, out)
		}
	}
	return s
}

// AdminURL is the superuser's URL of the postgres database.
func (s *PostgresServer) AdminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Stop shuts the server down fast (pg_ctl stop -m fast): sessions are ended
// with 57P01, and the call returns once the server is gone.
func (s *PostgresServer) Stop() { s.stop(s.t) }

func (s *PostgresServer) stop(t testing.TB) {
	t.Helper()
	began := time.Now()
	out, err := s.pgCmd(filepath.Join(s.bin, "pg_ctl"), "stop", "-D", s.dataDir(), "-m", "fast", "-w", "-t", "30", "-s").CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: pg_ctl stop: %v\n%s%s", err, out, s.logTail())
	}
	t.Logf("testenv: PostgreSQL on port %d stopped in %v", s.port, time.Since(began).Round(time.Millisecond))
}

// Start starts the server again on the same port and data directory and
// returns once it accepts connections (at most 30 s).
func (s *PostgresServer) Start() { s.start(s.t) }

func (s *PostgresServer) start(t testing.TB) {
	t.Helper()
	began := time.Now()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' %s"+
		" -c fsync=off -c synchronous_commit=off -c full_page_writes=off", s.port, s.settings)
	out, err := s.pgCmd(filepath.Join(s.bin, "pg_ctl"), "start", "-D", s.dataDir(), "-l", filepath.Join(s.base, "pg.log"),
		"-w", "-t", "30", "-s", "-o", opts).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: pg_ctl start: %v\n%s%s", err, out, s.logTail())
	}
	// pg_ctl -w waits for the postmaster; also see a real session succeed.
	deadline := began.Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.AdminURL())
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: PostgreSQL on port %d not ready after 30 s: %v%s", s.port, err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("testenv: PostgreSQL on port %d started in %v", s.port, time.Since(began).Round(time.Millisecond))
}

// DB makes a new database on this server with every migration applied (like
// DBWithURL; the template is built on this server on first use) and returns
// a pool on it and its URL. Both go in t.Cleanup.
func (s *PostgresServer) DB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return dbOn(t, s.AdminURL(), "the private server is stopped; call Start first")
}

func (s *PostgresServer) dataDir() string { return filepath.Join(s.base, "data") }

// cleanup stops the server if it runs (immediate: the data is thrown away) and removes its directory.
func (s *PostgresServer) cleanup() {
	if _, err := os.Stat(filepath.Join(s.dataDir(), "postmaster.pid")); err == nil {
		if out, err := s.pgCmd(filepath.Join(s.bin, "pg_ctl"), "stop", "-D", s.dataDir(), "-m", "immediate", "-w", "-t", "30", "-s").CombinedOutput(); err != nil {
			s.t.Errorf("testenv: pg_ctl stop in cleanup: %v\n%s", err, out)
		}
	}
	if err := os.RemoveAll(s.base); err != nil {
		s.t.Errorf("testenv: remove %s: %v", s.base, err)
	}
}

// pgCmd runs a server tool as `postgres` when we are root (initdb refuses
// root), from / so that the tool never warns about an unreadable working directory.
func (s *PostgresServer) pgCmd(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = "/"
	return cmd
}

func (s *PostgresServer) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.base, "pg.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\npg.log:\n" + strings.Join(lines, "\n")
}

// pgBinDir finds the server binaries as tools/services.sh does: initdb and
// pg_ctl on PATH (symlinks resolved), else the newest /usr/lib/postgresql/*/bin.
func pgBinDir(t testing.TB) string {
	t.Helper()
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			if real, err := filepath.EvalSymlinks(initdb); err == nil {
				initdb = real
			}
			return filepath.Dir(initdb)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(dirs[i])), filepath.Base(filepath.Dir(dirs[j])))
	})
	for k := len(dirs) - 1; k >= 0; k-- {
		if _, err := os.Stat(filepath.Join(dirs[k], "initdb")); err == nil {
			return dirs[k]
		}
	}
	t.Fatal("testenv: PostgreSQL server binaries (initdb, pg_ctl) are neither on PATH nor in /usr/lib/postgresql/*/bin; run `make test`, which installs them")
	return ""
}

// versionLess compares dotted versions numerically ("9.6" < "15").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// initdbLocale is C.UTF-8 where the OS has it (Debian), plain C otherwise (macOS).
func initdbLocale() string {
	out, err := exec.Command("locale", "-a").Output()
	if err != nil {
		return "C"
	}
	re := regexp.MustCompile(`(?i)^c\.utf-?8$`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if re.MatchString(strings.TrimSpace(sc.Text())) {
			return "C.UTF-8"
		}
	}
	return "C"
}
