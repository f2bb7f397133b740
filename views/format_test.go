package views

import (
	"testing"
	"time"
)

func TestTimesAreShownInTheShopsZoneWithTheZoneNamed(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if got := whenIn(at, seoul); got != "2026-12-07 21:00 KST" {
		t.Fatalf("whenIn = %q", got)
	}
	if got := windowIn(at, at.Add(2*time.Hour), seoul); got != "2026-12-07 21:00–23:00 KST" {
		t.Fatalf("a window within a day: %q", got)
	}
	if got := windowIn(at, at.Add(5*time.Hour), seoul); got != "2026-12-07 21:00 KST – 2026-12-08 02:00 KST" {
		t.Fatalf("a window over midnight: %q", got)
	}
}

func TestDurationsReadAsWords(t *testing.T) {
	tests := []struct {
		d         time.Duration
		until     string
		countdown string
	}{
		{2*time.Hour + 13*time.Minute, "2 h 13 min", "2 h 13 min"},
		{4*time.Minute + 59*time.Second, "5 min", "04:59"},
		{4*time.Minute + 58*time.Second + 100*time.Millisecond, "5 min", "04:59"},
		{20 * time.Second, "less than a minute", "00:20"},
		{59*time.Minute + 59*time.Second + 500*time.Millisecond, "1 h 0 min", "1 h 0 min"},
		{72 * time.Hour, "3 days", "3 days"},
		{0, "", "00:00"},
		{-time.Minute, "", "00:00"},
	}
	for _, tt := range tests {
		if got := Until(tt.d); got != tt.until {
			t.Errorf("Until(%v) = %q, want %q", tt.d, got, tt.until)
		}
		if got := Countdown(tt.d); got != tt.countdown {
			t.Errorf("Countdown(%v) = %q, want %q", tt.d, got, tt.countdown)
		}
	}
}

func TestCountsTakeTheirNounInTheRightNumber(t *testing.T) {
	for n, want := range map[int64]string{0: "0 orders", 1: "1 order", 2: "2 orders", 12480: "12,480 orders"} {
		if got := Counted(n, "order"); got != want {
			t.Errorf("Counted(%d) = %q, want %q", n, got, want)
		}
	}
}
