package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
)

// Conn is a TCP connection whose replies are read in the background, so
// that a later expect sees everything that came back, in order.
type Conn struct {
	net.Conn
	Target string

	mu       sync.Mutex
	received []byte // not yet consumed by an expect
	ended    error  // io.EOF, a reset, ...; nil while open
	changed  chan struct{}
}

// MaxUnread bounds the bytes a connection keeps that no expect has taken.
const MaxUnread = 16 << 20

// NewConn starts reading c in the background.
func NewConn(c net.Conn, target string) *Conn {
	// Urgent (out-of-band) bytes come inline, so that no byte the peer
	// sends escapes the expectations (silent, closed).
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
			})
		}
	}
	cn := &Conn{Conn: c, Target: target, changed: make(chan struct{})}
	go cn.readLoop()
	return cn
}

func (c *Conn) readLoop() {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Conn.Read(buf)
		c.mu.Lock()
		c.received = append(c.received, buf[:n]...)
		if err == nil && len(c.received) > MaxUnread {
			// A peer that streams without end must not eat the runner's
			// memory: stop reading, and say so to the next expect.
			err = fmt.Errorf("more than %d MiB came back without an expect taking it; the runner stopped reading this connection", MaxUnread>>20)
			c.Conn.Close()
		}
		if err != nil {
			c.ended = err
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Await calls check with what was received and how the connection ended
// (nil while open) every time either changes, until check reports done or
// ctx ends. check returns how many bytes it consumed.
func (c *Conn) Await(ctx context.Context, check func(received []byte, ended error) (consumed int, done bool)) error {
	for {
		c.mu.Lock()
		n, done := check(c.received, c.ended)
		c.received = c.received[n:]
		changed := c.changed
		c.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Consume takes the first n received bytes off the connection: an expect
// that matched them.
func (c *Conn) Consume(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received = c.received[min(n, len(c.received)):]
}

// seen says what the connection showed so far, as an Attempt outcome:
// bytes, an end with none, or neither.
func (c *Conn) seen() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(c.received) > 0:
		return AttemptReply
	case c.ended != nil:
		return AttemptClose
	}
	return AttemptStall
}

// DescribeEnd says in words how a connection ended.
func DescribeEnd(err error) string {
	switch {
	case err == nil:
		return "still open"
	case errors.Is(err, io.EOF):
		return "closed by the peer (EOF)"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset by the peer"
	case errors.Is(err, net.ErrClosed):
		return "closed by the runner"
	}
	return err.Error()
}

// Quote shows bytes as a Go string literal, short enough for one line.
func Quote(b []byte) string {
	const limit = 200
	if len(b) > limit {
		return fmt.Sprintf("%q... (%d bytes)", b[:limit], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// HasPrefixOf reports whether got could still grow into want.
func HasPrefixOf(got, want []byte) bool {
	return len(got) <= len(want) && bytes.Equal(got, want[:len(got)])
}
