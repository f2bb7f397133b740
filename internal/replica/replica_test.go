package replica

import (
	"testing"
	"time"
)

// The lag is how long ago the primary had flushed the oldest position the
// replica has not replayed; what it has replayed is forgotten.
func TestLagIsTheAgeOfTheOldestPositionNotReplayed(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	r := &Reads{sent: []sample{{t0, 100}, {t0.Add(250 * time.Millisecond), 200}, {t0.Add(500 * time.Millisecond), 300}}}
	now := t0.Add(time.Second)
	tests := []struct {
		replayed LSN
		want     time.Duration
		left     int
	}{
		{50, time.Second, 3},             // nothing sampled replayed yet
		{100, 750 * time.Millisecond, 2}, // the first position replayed
		{250, 500 * time.Millisecond, 1}, // past the second, short of the third
		{300, 0, 0},                      // everything the primary had flushed
		{300, 0, 0},                      // and nothing new since
	}
	for _, tt := range tests {
		if got := r.lag(now, tt.replayed); got != tt.want || len(r.sent) != tt.left {
			t.Fatalf("replayed %d: lag %v with %d samples left, want %v and %d", tt.replayed, got, len(r.sent), tt.want, tt.left)
		}
	}
}

// Without a replica every read goes to the primary, whatever the context
// says; nothing waits and nothing is counted.
func TestWithoutAReplicaEveryReadGoesToThePrimary(t *testing.T) {
	r := PrimaryOnly(nil)
	ctx := AfterWrite(t.Context(), 12345)
	if pool, onReplica := r.choose(ctx); pool != nil || onReplica {
		t.Fatalf("choose: %v %v", pool, onReplica)
	}
	if lsn, err := r.Wrote(ctx); lsn != 0 || err != nil {
		t.Fatalf("Wrote without a replica: %d %v", lsn, err)
	}
}
