package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// stockCeilingScript is checkout's guarded stock update (queries/order.sql,
// TakeStockGuarded; TakeStockOrAbort wraps the same UPDATE) on one hot row,
// each statement its own transaction: what PostgreSQL alone can do on the
// row every hot checkout has to take.
const stockCeilingScript = "UPDATE product_stock SET stock = stock - 1, version = version + 1 WHERE product_id = :id AND stock >= 1;\n"

// stockCeiling samples the pgbench ceiling several times during a bench, because
// on a shared machine one sample can be far from the next.
type stockCeiling struct {
	bin     string
	args    []string
	script  string
	clients int32
	secs    int
	admin   *pgxpool.Pool
	labels  []string
	tps     []float64
	// CPU per transaction of each sample: the server's and pgbench's own.
	serverCPU, clientCPU []time.Duration
}

// newStockCeiling finds pgbench and creates the hot row it updates, with clients
// connections (the app pool's size) for secs seconds a sample.
func newStockCeiling(ctx context.Context, admin *pgxpool.Pool, dbURL, run string, clients int32, secs int) (*stockCeiling, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
		sort.Strings(matches)
		if len(matches) == 0 {
			return nil, errors.New("pgbench not found (it ships with the postgresql package); -pgbench-seconds 0 skips the ceiling")
		}
		bin = matches[len(matches)-1]
	}
	var id int64
	err = admin.QueryRow(ctx, `WITH c AS (INSERT INTO categories (slug, name) VALUES ('bench', 'Bench')
				ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id),
			p AS (INSERT INTO products (sku, name, brand, category_id, price) SELECT $1, 'Bench pgbench row', 'Bench', c.id, 1000 FROM c RETURNING id)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 1000000000, 1000000000 FROM p RETURNING product_id`,
		"BENCH-"+run+"-pgbench").Scan(&id)
	if err != nil {
		return nil, err
	}
	script := filepath.Join(os.TempDir(), run+"-hot.sql")
	if err := os.WriteFile(script, []byte(stockCeilingScript), 0o644); err != nil {
		return nil, err
	}
	libpqURL, err := withoutPoolParams(dbURL)
	if err != nil {
		return nil, err
	}
	threads := min(2, clients)
	args := []string{"-n", "-c", strconv.Itoa(int(clients)), "-j", strconv.Itoa(int(threads)), "-T", strconv.Itoa(secs),
		"-D", "id=" + strconv.FormatInt(id, 10), "-f", script, libpqURL}
	return &stockCeiling{bin: bin, args: args, script: script, clients: clients, secs: secs, admin: admin}, nil
}

// withoutPoolParams drops pgx's pool_* settings from the URL, which libpq
// (pgbench) would refuse.
func withoutPoolParams(dbURL string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// sample runs pgbench once and keeps its tps and CPU per transaction under
// label.
func (c *stockCeiling) sample(ctx context.Context, label string) error {
	before := serverCPU(ctx, c.admin)
	cmd := exec.CommandContext(ctx, c.bin, c.args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgbench ceiling (%s): %v: %s", label, err, out)
	}
	time.Sleep(100 * time.Millisecond) // the postmaster reaps pgbench's backends, adding their CPU to its own
	server := serverCPU(ctx, c.admin) - before
	m := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out)
	n := regexp.MustCompile(`transactions actually processed: ([0-9]+)`).FindSubmatch(out)
	if m == nil || n == nil {
		return fmt.Errorf("pgbench ceiling (%s): no tps in its output: %s", label, out)
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return err
	}
	txs, err := strconv.ParseInt(string(n[1]), 10, 64)
	if err != nil || txs == 0 {
		return fmt.Errorf("pgbench ceiling (%s): %d transactions (%v)", label, txs, err)
	}
	client := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	c.labels, c.tps = append(c.labels, label), append(c.tps, tps)
	c.serverCPU = append(c.serverCPU, server/time.Duration(txs))
	c.clientCPU = append(c.clientCPU, client/time.Duration(txs))
	return nil
}

// median of the samples (the mean of the middle two when even).
func (c *stockCeiling) median() float64 {
	s := slices.Sorted(slices.Values(c.tps))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// report prints the command, every sample, their spread and each
// strategy's hot-product rate against the median.
func (c *stockCeiling) report(strategies []string, hot map[string]float64) {
	fmt.Printf("\n$ pgbench %s   # script: %s", strings.Join(c.args, " "), stockCeilingScript)
	parts := make([]string, len(c.tps))
	cpu := make([]string, len(c.tps))
	for i, t := range c.tps {
		parts[i] = fmt.Sprintf("%s %.0f", c.labels[i], t)
		cpu[i] = fmt.Sprintf("%s %s + %s", c.labels[i], c.serverCPU[i].Round(time.Microsecond), c.clientCPU[i].Round(time.Microsecond))
	}
	lo, hi, med := slices.Min(c.tps), slices.Max(c.tps), c.median()
	fmt.Printf("pgbench ceiling (guarded UPDATE of one hot row, %d clients = serve's pool, %d s a sample): %s tps\n",
		c.clients, c.secs, strings.Join(parts, ", "))
	fmt.Printf("ceiling median %.0f tps, spread %.0f–%.0f tps (%.0f%% of the median)\n", med, lo, hi, 100*(hi-lo)/med)
	fmt.Printf("pgbench CPU per transaction, the server's + pgbench's: %s\n", strings.Join(cpu, ", "))
	for _, s := range strategies {
		r := hot[s]
		verdict := "met"
		if r < 0.4*med {
			verdict = "missed"
		}
		fmt.Printf("%-12s hot-product checkout: %.0f orders/s = %.0f%% of the median ceiling (%.0f%% of the highest sample, %.0f%% of the lowest; bar 40%%: %s)\n",
			s, r, 100*r/med, 100*r/hi, 100*r/lo, verdict)
	}
}

func (c *stockCeiling) close() { os.Remove(c.script) }
