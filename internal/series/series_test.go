package series

import (
	"testing"
	"time"
)

func TestLastWindowEndsWithTheBucketHoldingNow(t *testing.T) {
	now := time.Date(2025, 5, 1, 14, 7, 43, 500, time.UTC)
	w := Last(now, 10*time.Second, 60)
	if want := time.Date(2025, 5, 1, 14, 7, 50, 0, time.UTC); !w.Until.Equal(want) {
		t.Fatalf("until %v, want %v", w.Until, want)
	}
	if want := time.Date(2025, 5, 1, 13, 57, 50, 0, time.UTC); !w.Since.Equal(want) {
		t.Fatalf("since %v, want %v", w.Since, want)
	}
	if !(now.After(w.Until.Add(-w.Step)) && now.Before(w.Until)) {
		t.Fatal("now is not in the last bucket")
	}
}

func TestFillPutsEachCountInItsBucketAndZeroesTheGaps(t *testing.T) {
	w := Last(time.Date(2025, 5, 1, 14, 0, 30, 0, time.UTC), time.Minute, 5) // 13:56 … 14:00
	at := func(h, m, s int) time.Time { return time.Date(2025, 5, 1, h, m, s, 0, time.UTC) }
	tests := []struct {
		name   string
		starts []time.Time
		counts []int64
		want   []int64
	}{
		{"no rows: all zero", nil, nil, []int64{0, 0, 0, 0, 0}},
		{"first and last", []time.Time{at(13, 56, 0), at(14, 0, 0)}, []int64{3, 7}, []int64{3, 0, 0, 0, 7}},
		{"gaps in the middle", []time.Time{at(13, 57, 0), at(13, 59, 0)}, []int64{1, 2}, []int64{0, 1, 0, 2, 0}},
		{"before the window: dropped", []time.Time{at(13, 55, 0)}, []int64{9}, []int64{0, 0, 0, 0, 0}},
		{"after the window: dropped", []time.Time{at(14, 1, 0)}, []int64{9}, []int64{0, 0, 0, 0, 0}},
		{"off the grid: dropped", []time.Time{at(13, 57, 30)}, []int64{9}, []int64{0, 0, 0, 0, 0}},
		{"same bucket twice: added", []time.Time{at(13, 58, 0), at(13, 58, 0)}, []int64{2, 5}, []int64{0, 0, 7, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := w.Fill(tc.starts, tc.counts)
			if len(got) != len(tc.want) {
				t.Fatalf("%d buckets, want %d", len(got), len(tc.want))
			}
			for i, p := range got {
				if p.Value != tc.want[i] || !p.At.Equal(w.Since.Add(time.Duration(i)*time.Minute)) {
					t.Errorf("bucket %d: %v %d, want %d", i, p.At, p.Value, tc.want[i])
				}
			}
		})
	}
}
