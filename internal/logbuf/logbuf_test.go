package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// safeBuffer is the underlying output, read while the Writer flushes into it.
type safeBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *safeBuffer) snapshot() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

func TestLinesAppearAfterTheIntervalInFewWrites(t *testing.T) {
	out := &safeBuffer{}
	w := New(out, 64<<10, 20*time.Millisecond)
	defer w.Close()
	for i := range 100 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		s, writes := out.snapshot()
		if strings.Count(s, "\n") == 100 {
			if writes > 2 {
				t.Fatalf("100 lines took %d writes; want them batched", writes)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 s only %d of 100 lines were flushed", strings.Count(s, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseFlushesEverything(t *testing.T) {
	out := &safeBuffer{}
	w := New(out, 64<<10, time.Hour)
	fmt.Fprintln(w, "last words")
	if s, _ := out.snapshot(); s != "" {
		t.Fatalf("flushed before the interval: %q", s)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.snapshot(); s != "last words\n" {
		t.Fatalf("after Close got %q", s)
	}
}

func TestConcurrentWritesStayWholeWhenTheBufferFills(t *testing.T) {
	out := &safeBuffer{}
	w := New(out, 256, time.Hour) // tiny buffer: flushes inline constantly
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 20 {
		wg.Go(func() {
			<-start
			for i := range 50 {
				fmt.Fprintf(w, "goroutine=%02d line=%02d %s\n", g, i, strings.Repeat("x", 40))
			}
		})
	}
	close(start)
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ := out.snapshot()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) != 1000 {
		t.Fatalf("got %d lines, want 1000", len(lines))
	}
	for _, l := range lines {
		var g, i int
		var x string
		if n, err := fmt.Sscanf(l, "goroutine=%d line=%d %s", &g, &i, &x); n != 3 || err != nil || len(x) != 40 {
			t.Fatalf("torn line %q", l)
		}
	}
}
