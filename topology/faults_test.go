package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// dialWithin dials addr from n, giving up after d.
func dialWithin(n *Node, addr string, d time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return n.DialContext(ctx, "tcp", addr)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// echoServer echoes every connection to ln until ln closes.
func echoServer(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

// A cut cable stalls what was open and makes new dials time out, without
// resetting anything: the open connection echoes again once reconnected.
func TestDisconnectStallsAndReconnectResumes(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	ln, err := b.Listen("tcp", b.Addr().String()+":8181")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echoServer(ln)
	addr := b.Addr().String() + ":8181"
	long, err := dialWithin(a, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	if got, err := roundTrip(long, "before"); err != nil || got != "before" {
		t.Fatalf("before the cut: %q, %v", got, err)
	}
	if err := l.Disconnect("b"); err != nil {
		t.Fatal(err)
	}
	if c, err := dialWithin(a, addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("a new connection reached the disconnected node")
	} else if !isTimeout(err) {
		t.Fatalf("a new dial to the disconnected node: %v (want a timeout: nothing answers, nothing resets)", err)
	}
	// The open connection stalls: its write is queued, nothing comes back.
	if err := long.SetDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := long.Write([]byte("during")); err != nil {
		t.Fatalf("writing during the cut: %v", err)
	}
	buf := make([]byte, 6)
	if n, err := io.ReadFull(long, buf); !isTimeout(err) {
		t.Fatalf("reading during the cut: %d bytes %q, %v (want a stall)", n, buf[:n], err)
	}
	if err := l.Reconnect("b"); err != nil {
		t.Fatal(err)
	}
	// The write made during the cut is retransmitted and echoed.
	if err := long.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(long, buf); err != nil || string(buf) != "during" {
		t.Fatalf("after reconnecting, the open connection gave %q, %v", buf, err)
	}
	if got, err := roundTrip(long, "after"); err != nil || got != "after" {
		t.Fatalf("after reconnecting: %q, %v", got, err)
	}
	if c, err := dialWithin(a, addr, 900*time.Millisecond); err != nil {
		t.Fatalf("a new dial after reconnecting: %v", err)
	} else {
		c.Close()
	}
	if err := l.Disconnect("nosuch"); err == nil {
		t.Error("Disconnect accepted an unknown node")
	}
}

// udpDelivered sends count datagrams from a to b and counts those b gets.
func udpDelivered(t *testing.T, a, b *Node, count int) int {
	t.Helper()
	var pc net.PacketConn
	if err := b.Do(func() (err error) { pc, err = net.ListenPacket("udp", b.Addr().String()+":0"); return }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	conn, err := a.DialContext(context.Background(), "udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The receiver counts until the sender is done and the socket has
	// been quiet for a while after that.
	sent := make(chan struct{})
	got := make(chan int)
	go func() {
		n, buf, finished := 0, make([]byte, 64), false
		for {
			_ = pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, _, err := pc.ReadFrom(buf); err == nil {
				n++
				continue
			}
			if finished {
				got <- n
				return
			}
			select {
			case <-sent:
				finished = true
			case <-time.After(10 * time.Second):
				got <- n
				return
			}
		}
	}()
	for i := 0; i < count; i++ {
		// A drop is silent: the sender is never told (no EPERM).
		if _, err := fmt.Fprintf(conn, "datagram %d", i); err != nil {
			t.Fatalf("sending datagram %d: %v", i, err)
		}
	}
	close(sent)
	return <-got
}

func TestLossDropsSilentlyAndSparesLoopback(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	ln, err := b.Listen("tcp", b.Addr().String()+":8181")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echoServer(ln)
	addr := b.Addr().String() + ":8181"

	if err := b.SetLoss(100); err != nil {
		t.Fatal(err)
	}
	if c, err := dialWithin(a, addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("a connection got through 100% loss")
	} else if !isTimeout(err) {
		t.Fatalf("dialing through 100%% loss: %v (want a timeout: the drop is silent)", err)
	}
	if n := udpDelivered(t, a, b, 50); n != 0 {
		t.Errorf("%d of 50 datagrams got through 100%% loss", n)
	}
	// b's own loopback is untouched.
	lo, err := b.Listen("tcp", "127.0.0.1:8182")
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	echoServer(lo)
	c, err := dialWithin(b, "127.0.0.1:8182", time.Second)
	if err != nil {
		t.Fatalf("b's loopback under 100%% loss: %v", err)
	}
	if got, err := roundTrip(c, "lo"); err != nil || got != "lo" {
		t.Errorf("b's loopback under 100%% loss: %q, %v", got, err)
	}
	c.Close()

	// 30 %: about 70 of 100 datagrams arrive (binomial: 6 standard
	// deviations either way).
	if err := b.SetLoss(30); err != nil {
		t.Fatal(err)
	}
	n := udpDelivered(t, a, b, 200)
	t.Logf("30%% loss: %d of 200 datagrams arrived", n)
	if n < 140-6*7 || n > 140+6*7 {
		t.Errorf("30%% loss: %d of 200 datagrams arrived, want about 140", n)
	}
	// Loss on the sender's side too.
	if err := b.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	if err := a.SetLoss(100); err != nil {
		t.Fatal(err)
	}
	if n := udpDelivered(t, a, b, 50); n != 0 {
		t.Errorf("%d of 50 datagrams left a node with 100%% loss", n)
	}
	if err := a.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	if n := udpDelivered(t, a, b, 100); n != 100 {
		t.Errorf("no loss: %d of 100 datagrams arrived", n)
	}
	c, err = dialWithin(a, addr, 900*time.Millisecond)
	if err != nil {
		t.Fatalf("after removing the loss: %v", err)
	}
	c.Close()
	if err := a.SetLoss(101); err == nil {
		t.Error("SetLoss accepted 101%")
	}
}

// transferTime sends size bytes from "from" to "to" and says how long
// until "to" had them all.
func transferTime(t *testing.T, from, to *Node, size int) time.Duration {
	t.Helper()
	ln, err := to.Listen("tcp", to.Addr().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.CopyN(io.Discard, c, int64(size))
		done <- err
	}()
	c, err := dialWithin(from, ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func TestBandwidthLimitsBothDirections(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	const size, rate = 200_000, 100_000
	if err := a.SetBandwidth(rate); err != nil {
		t.Fatal(err)
	}
	// 200 KB at 100 KB/s, less the first burst (20 KB): about 1.8 s.
	for _, dir := range []struct {
		name     string
		from, to *Node
	}{{"sending", a, b}, {"receiving", b, a}} {
		if d := transferTime(t, dir.from, dir.to, size); d < time.Second || d > 6*time.Second {
			t.Errorf("%s 200 KB at 100 KB/s took %v, want about 1.8 s", dir.name, d)
		} else {
			t.Logf("%s 200 KB at 100 KB/s: %v", dir.name, d)
		}
	}
	if err := a.SetBandwidth(0); err != nil {
		t.Fatal(err)
	}
	if d := transferTime(t, a, b, size); d > time.Second {
		t.Errorf("without a limit, 200 KB took %v", d)
	}
	if err := a.SetBandwidth(0); err != nil {
		t.Errorf("removing no limit: %v", err)
	}
}

// Heal undoes cut cables and loss: the run's cleanup calls it, so that
// agents on a faulted node can still reach the others while they stop.
func TestHealUndoesCutsAndLoss(t *testing.T) {
	l := newLab(t, "a", "b", "c")
	a, b, c := node(t, l, "a"), node(t, l, "b"), node(t, l, "c")
	for _, n := range []*Node{b, c} {
		ln, err := n.Listen("tcp", n.Addr().String()+":8181")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		echoServer(ln)
	}
	if err := l.Disconnect("b"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLoss(100); err != nil {
		t.Fatal(err)
	}
	if conn, err := dialWithin(a, c.Addr().String()+":8181", 300*time.Millisecond); err == nil {
		conn.Close()
		t.Fatal("a connection crossed 100% loss")
	}
	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{b, c} {
		conn, err := dialWithin(a, n.Addr().String()+":8181", 5*time.Second)
		if err != nil {
			t.Fatalf("after Heal, %s: %v", n.Name(), err)
		}
		if got, err := roundTrip(conn, "healed"); err != nil || got != "healed" {
			t.Errorf("after Heal, %s echoed %q, %v", n.Name(), got, err)
		}
		conn.Close()
	}
}
