package steps

import (
	"context"
	"fmt"
	"time"
)

// heldReply is an expect of an exact reply on a held connection (one a
// send opened). Its quiet window, the time no further byte may come, is
// left to settle while later steps that cannot touch that connection
// begin (Passes): the verdict is the same, reached while the scenario
// goes on, and it still lands, in order, before the scenario's.
type heldReply struct{ *expect }

// held is e, or for an exact reply on a held connection the heldReply
// that leaves its quiet window pending, or for a claim that may be
// watched settling the watchedClaim that leaves its watch pending.
func (e *expect) held() Step {
	if e.probe == nil && e.intention == nil && e.silent == 0 && e.reply != nil {
		return &heldReply{e}
	}
	return e.watched()
}

// Start waits for the reply, as Run does, and returns once it has come;
// settle watches the quiet window and takes the reply off the connection.
func (h *heldReply) Start(ctx context.Context, env Env) (func(context.Context) error, error) {
	c, err := env.Conn(h.conn)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	// within bounds the reply and its quiet window together, as in Run.
	deadline := start.Add(h.within)
	where := fmt.Sprintf("on connection %s to %s", h.conn, c.Target)
	replied, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var v verdict
	var consumed int
	var why error
	waitErr := c.Await(replied, func(rcv []byte, ended error) (int, bool) {
		v, consumed, why = h.judge(rcv, ended)
		return 0, v != pending
	})
	switch {
	case waitErr != nil && why == nil:
		return nil, h.failure(where, fmt.Errorf("nothing came back"), true, time.Since(start))
	case waitErr != nil:
		return nil, h.failure(where, why, true, time.Since(start))
	case v == fails:
		return nil, h.failure(where, why, false, time.Since(start))
	}
	// The window starts now, and is judged when it ends, whenever the
	// runner asks: bytes that come after it are the next expect's.
	windowEnd := time.Now().Add(h.quiet)
	result := make(chan error, 1)
	go func() { result <- h.quietWindow(ctx, c, consumed, windowEnd, deadline, where, start) }()
	return func(context.Context) error { return <-result }, nil
}

// quietWindow watches c until windowEnd: a byte beyond the reply fails the
// step, as Run judges it; else the reply is taken off the connection. The
// step's deadline or its end coming first fails it too.
func (h *heldReply) quietWindow(ctx context.Context, c *Conn, consumed int, windowEnd, deadline time.Time, where string, start time.Time) error {
	end := windowEnd
	if deadline.Before(end) {
		end = deadline
	}
	quiet, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var v verdict
	var why error
	grew, ended := false, false
	_ = c.Await(quiet, func(rcv []byte, end error) (int, bool) {
		if grew = len(rcv) > consumed; grew {
			v, _, why = h.judge(rcv, end)
		}
		ended = end != nil
		return 0, grew || ended
	})
	switch {
	case grew && v != holds:
		return h.failure(where, why, false, time.Since(start))
	case !grew && !ended && (ctx.Err() != nil || deadline.Before(windowEnd)):
		return h.failure(where, fmt.Errorf("the reply came, but the time ran out before %s of quiet", h.quiet), true, time.Since(start))
	}
	c.Consume(consumed)
	return nil
}

// Passes lets a later step begin while the quiet window is open when it
// can neither touch the watched connection nor cut it short: a look at
// another connection or at the mesh (another expect, a send on another
// connection) or an intention change (which does not end established
// connections). A step that stops processes, changes the network, runs
// commands or registers services waits for the window, as does anything
// on the same connection: the window must see the path as the reply left
// it, for as long as it lasts.
func (h *heldReply) Passes(next Step) bool {
	switch n := next.(type) {
	case *heldReply:
		return n.conn != h.conn
	case *expect:
		return n.conn != h.conn
	case *watchedClaim: // a probe or an intention decision: never a held connection
		return true
	case *send:
		return n.conn != h.conn
	case *expectCert, *expectLoopbackOnly, *setIntention, *deleteIntention:
		return true
	}
	return false
}
