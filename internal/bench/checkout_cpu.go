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
// the load generator) and by the PostgreSQL server (its backends, WAL writer,
// checkpointer, autovacuum) during a run. On a machine where other work takes
// the cores, throughput moves with the load average while the CPU an order
// costs moves much less, so two builds of an A/B run compare on it too. It
// needs the server on this machine; elsewhere its share reads as zero.
type cpuMeter struct {
	admin        *pgxpool.Pool
	self, server time.Duration
}

// startCPU notes the CPU spent so far.
func startCPU(ctx context.Context, admin *pgxpool.Pool) *cpuMeter {
	return &cpuMeter{admin: admin, self: selfCPU(), server: serverCPU(ctx, admin)}
}

// stop returns the CPU spent since start by this process and by the server.
func (m *cpuMeter) stop(ctx context.Context) (self, server time.Duration) {
	return selfCPU() - m.self, serverCPU(ctx, m.admin) - m.server
}

// serverCPU is the PostgreSQL server's CPU so far: that of each process
// pg_stat_activity lists, and the postmaster's own with what its exited
// children (a pgbench run's backends, say) spent.
func serverCPU(ctx context.Context, admin *pgxpool.Pool) time.Duration {
	rows, err := admin.Query(ctx, "SELECT pid FROM pg_stat_activity")
	if err != nil {
		return 0
	}
	defer rows.Close()
	var total time.Duration
	postmaster := 0
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			continue
		}
		if st, ok := procStat(pid); ok {
			total += st.cpu
			postmaster = st.parent
		}
	}
	if st, ok := procStat(postmaster); ok && postmaster > 1 {
		total += st.cpu + st.children
	}
	return total
}

// procState is what /proc/PID/stat says of a process's CPU (user + system).
type procState struct {
	parent        int
	cpu, children time.Duration // its own; its exited children's, once reaped
}

// procStat reads /proc/PID/stat.
func procStat(pid int) (procState, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procState{}, false
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: ppid is field 4, utime, stime, cutime and cstime 14 to 17 (the
	// 2nd, and the 12th to 15th after it), in clock ticks (100 a second).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procState{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return procState{}, false
	}
	var n [5]int64
	for k, field := range []string{f[1], f[11], f[12], f[13], f[14]} {
		if n[k], err = strconv.ParseInt(field, 10, 64); err != nil {
			return procState{}, false
		}
	}
	tick := 10 * time.Millisecond
	return procState{parent: int(n[0]), cpu: time.Duration(n[1]+n[2]) * tick, children: time.Duration(n[3]+n[4]) * tick}, true
}
