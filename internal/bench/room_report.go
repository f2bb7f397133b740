package bench

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// report prints the crowd's figures and checks, and returns an error naming
// every check that failed.
func (t *roomTally) report(o roomOptions, admit float64) error {
	var arrivals, claims, admitted []time.Duration
	var tickets []visit
	var failed []string
	skipped, errs, violations := 0, 0, 0
	for _, v := range t.visits {
		arrivals = append(arrivals, v.arrival)
		switch {
		case v.err != "":
			errs++
			if errs <= 3 {
				failed = append(failed, "error: "+v.err)
			}
		case v.skipped:
			skipped++
			admitted = append(admitted, v.arrival)
		case v.atTurn:
			tickets = append(tickets, v)
		default:
			claims = append(claims, v.claim)
			admitted = append(admitted, v.claim)
			tickets = append(tickets, v)
		}
		violations += len(v.violations)
		for _, s := range v.violations {
			failed = append(failed, "way around the room: "+s)
		}
	}
	a50, a99, amax := quantiles(arrivals)
	c50, c99, cmax := quantiles(claims)
	_, all99, _ := quantiles(admitted)
	fmt.Printf("\n%-34s %9s %9s %9s %9s\n", "", "count", "p50", "p99", "max")
	row := func(name string, n int, p50, p99, top time.Duration) {
		fmt.Printf("%-34s %9d %9s %9s %9s\n", name, n, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), top.Round(10*time.Microsecond))
	}
	row("arrivals (answer, from due time)", len(arrivals), a50, a99, amax)
	row("claims with a ticket (from turn)", len(claims), c50, c99, cmax)
	requests := len(arrivals) + len(claims) + tries(t.visits)
	fmt.Printf("server CPU %s for %d requests: %.0f µs a request; arrivals answered %.0f/s over the crowd\n", t.cpu.Round(time.Millisecond), requests,
		us(t.cpu)/float64(max(1, requests)), float64(len(arrivals))/o.duration.Seconds())
	fmt.Printf("skipped the room (claimed at arrival): %d; waited with a ticket: %d; errors: %d; ways around the room that worked: %d\n",
		skipped, len(tickets), errs, violations)
	order, orderOK := fifo(tickets, admit)
	fmt.Println(order)
	ok := all99 < o.target
	fmt.Printf("admitted claims (skipped + ticketed), p99 %s: under %s: %v\n", all99.Round(10*time.Microsecond), o.target, ok)
	if !ok {
		failed = append(failed, fmt.Sprintf("admitted claims' p99 %s is not under %s", all99.Round(10*time.Microsecond), o.target))
	}
	if !orderOK {
		failed = append(failed, "tickets were not admitted first come, first served")
	}
	if errs > 0 || violations > 0 || len(failed) > 0 {
		for _, f := range failed {
			fmt.Println("FAIL", f)
		}
		return errors.New("bench room: some checks failed (see FAIL above)")
	}
	return nil
}

// fifo checks first come, first served: tickets are numbered without a gap
// or a repeat, and each number's turn comes at least one admission interval
// after the number before it (exactly one while the line is never empty); it also says how far the numbers stray from the
// order the load generator sent the arrivals in (two arrivals sent a moment
// apart on two connections may reach the script in either order).
func fifo(ts []visit, admit float64) (string, bool) {
	if len(ts) == 0 {
		return "no tickets: the room was never needed", true
	}
	slices.SortFunc(ts, func(a, b visit) int { return int(a.number - b.number) })
	interval := time.Duration(float64(time.Second) / admit)
	gaps, early, inversions := 0, 0, 0
	var worst time.Duration
	for i := 1; i < len(ts); i++ {
		if ts[i].number != ts[i-1].number+1 {
			gaps++
		}
		// At least one interval apart (more after a lull, when the line
		// emptied); the script keeps microseconds.
		if d := ts[i].admitAt.Sub(ts[i-1].admitAt); d < interval-2*time.Microsecond {
			early++
		}
		if d := ts[i-1].sent.Sub(ts[i].sent); d > 0 {
			inversions++
			worst = max(worst, d)
		}
	}
	first, last := ts[0], ts[len(ts)-1]
	line := last.admitAt.Sub(first.admitAt)
	s := fmt.Sprintf("tickets %d–%d, turns %s apart over %s (%.0f admissions/s); numbers repeated or skipped: %d; turns out of order: %d\n"+
		"arrival order: %d of %d neighbouring numbers were sent the other way round, by at most %s",
		first.number, last.number, interval, line.Round(time.Millisecond), float64(len(ts)-1)/line.Seconds(), gaps, early,
		inversions, len(ts)-1, worst.Round(10*time.Microsecond))
	return s, gaps == 0 && early == 0
}

// tries counts the testers' claims around the room.
func tries(vs []visit) int {
	n := 0
	for _, v := range vs {
		n += v.tries
	}
	return n
}
