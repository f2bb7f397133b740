package seed

import (
	"fmt"
	"io"
	"time"
)

// progress prints "products  123,000 / 1,000,000  12%  41,000/s" at most a
// few times a second, on one line that it rewrites.
type progress struct {
	out        io.Writer
	what       string
	total, n   int
	start, hit time.Time
}

func newProgress(out io.Writer, what string, total int) *progress {
	return &progress{out: out, what: what, total: total, start: time.Now()}
}

func (p *progress) add(k int) {
	p.n += k
	if p.out == nil || time.Since(p.hit) < 250*time.Millisecond {
		return
	}
	p.hit = time.Now()
	p.print("\r")
}

func (p *progress) print(prefix string) {
	rate := float64(p.n) / max(time.Since(p.start).Seconds(), 0.001)
	fmt.Fprintf(p.out, "%s%-9s %9d / %d  %3d%%  %.0f/s   ", prefix, p.what, p.n, p.total, p.n*100/max(p.total, 1), rate)
}

func (p *progress) done() {
	if p.out == nil {
		return
	}
	p.print("\r")
	fmt.Fprintf(p.out, "in %s\n", time.Since(p.start).Round(time.Millisecond))
}
