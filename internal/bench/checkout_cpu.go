package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// cpuMeter reads the CPU time spent by this process (the shop's handler and
// the load generator) and by the PostgreSQL server's processes (backends,
// WAL writer, checkpointer) during a run. On a machine where other work
// takes the cores, throughput moves with the load average while the CPU an
// order costs moves much less, so the two builds of an A/B run compare on it
// too. It needs the server on this machine; elsewhere the server's share is
// not known and is reported as zero.
type cpuMeter struct {
	admin   *pgxpool.Pool
	self    time.Duration
	backend map[int]time.Duration
}

// startCPU notes the CPU spent so far.
func startCPU(ctx context.Context, admin *pgxpool.Pool) *cpuMeter {
	return &cpuMeter{admin: admin, self: selfCPU(), backend: serverCPU(ctx, admin)}
}

// stop returns the CPU spent since start: by this process, and by the server's
// processes (a process that started meanwhile counts whole).
func (m *cpuMeter) stop(ctx context.Context) (self, server time.Duration) {
	self = selfCPU() - m.self
	for pid, t := range serverCPU(ctx, m.admin) {
		server += t - m.backend[pid]
	}
	return self, server
}

// serverCPU is the CPU time of each of the server's processes that
// pg_stat_activity lists.
func serverCPU(ctx context.Context, admin *pgxpool.Pool) map[int]time.Duration {
	out := map[int]time.Duration{}
	rows, err := admin.Query(ctx, "SELECT pid FROM pg_stat_activity")
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			continue
		}
		if t, ok := procCPU(pid); ok {
			out[pid] = t
		}
	}
	return out
}

// procCPU is a process's CPU so far (user + system), from /proc.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are fields 14 and 15, the 12th and 13th after
	// it, in clock ticks (100 a second on Linux).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * 10 * time.Millisecond, true
}
