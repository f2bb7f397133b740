// Package logbuf batches log output: many small writes (one access-log line
// per request) become one write(2) per interval. At thousands of requests a
// second on two cores, one syscall per line was a measurable share of a
// request's CPU (docs/PERFORMANCE.md, Coupons).
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer buffers whole writes and flushes them every interval, when the
// buffer fills, and on Close. Each Write is kept whole (never split between
// flushes by another writer). Lines written less than an interval before a
// hard crash (SIGKILL, a fatal runtime error) may be lost; Close on every
// ordinary exit path loses nothing.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// New starts a Writer around w that flushes every interval.
func New(w io.Writer, size int, interval time.Duration) *Writer {
	b := &Writer{buf: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				_ = b.Flush()
			}
		}
	}()
	return b
}

// Write buffers p; a write larger than the free space flushes first.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(p) > b.buf.Available() && b.buf.Buffered() > 0 {
		if err := b.buf.Flush(); err != nil {
			return 0, err
		}
	}
	return b.buf.Write(p)
}

// Flush writes out what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// Close stops the flushing loop and flushes what is left.
func (b *Writer) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}
