package testenv_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"market/internal/testenv"
)

// A cut proxy drops the connections it carries and refuses new ones; restored,
// it forwards again.
func TestProxyCutsAndRestores(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p := testenv.NewProxy(t, echo.Addr().String())

	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c, bufio.NewReader(c)
	}
	echoes := func(c net.Conn, r *bufio.Reader) bool {
		t.Helper()
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return false
		}
		line, err := r.ReadString('\n')
		return err == nil && line == "ping\n"
	}

	live, liveR := dial()
	if !echoes(live, liveR) {
		t.Fatal("no echo through the proxy")
	}
	p.Cut()
	if echoes(live, liveR) {
		t.Fatal("a live connection survived the cut")
	}
	if c, r := dial(); echoes(c, r) {
		t.Fatal("a new connection got through while cut")
	}
	p.Restore()
	if c, r := dial(); !echoes(c, r) {
		t.Fatal("no echo after restore")
	}
}
