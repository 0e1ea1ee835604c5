package steps

import (
	"bytes"
	"errors"
	"fmt"
)

// The judge of expect's byte claims: from what a connection returned so
// far and how it ended, whether the claim holds, fails, or is pending. It
// reads nothing but its arguments and the claim.

// verdict of judging what a connection returned so far.
type verdict int

const (
	pending verdict = iota // wait for more
	holds
	fails
)

// judge decides from what a connection returned so far and how it ended
// (nil while open). When it holds, consumed is how many bytes the
// expectation takes off the connection.
func (e *expect) judge(rcv []byte, ended error) (v verdict, consumed int, why error) {
	switch {
	case e.closed || e.denied:
		switch {
		case len(rcv) > 0:
			return fails, 0, opposite{fmt.Errorf("got reply %s", Quote(rcv))}
		case ended != nil:
			return holds, 0, nil
		}
		return pending, 0, errors.New("the connection is still open, no reply")
	case e.replyMatch != nil:
		switch {
		case len(rcv) > 0 && e.replyMatch.Match(rcv):
			return holds, len(rcv), nil
		case ended != nil && len(rcv) == 0:
			return fails, 0, opposite{fmt.Errorf("connection %s with no reply", DescribeEnd(ended))}
		case ended != nil:
			return fails, 0, wrong("got %s, which does not match, then the connection was %s", Quote(rcv), DescribeEnd(ended))
		case len(rcv) == 0:
			return pending, 0, errors.New("no reply, the connection is still open")
		}
		// Pending: more may come and match. If the wait ends here, it was
		// a wrong reply, which fails at once like one to an exact reply.
		return pending, 0, wrong("got %s, which does not match", Quote(rcv))
	}
	want := e.reply
	if e.replyPrefix != nil {
		want = e.replyPrefix
	}
	switch {
	case bytes.Equal(rcv, want):
		return holds, len(want), nil
	case bytes.HasPrefix(rcv, want) && e.replyPrefix != nil:
		return holds, len(want), nil
	case bytes.HasPrefix(rcv, want):
		return fails, 0, wrong("got %s: the expected bytes, then %s more (use reply-prefix if more is fine)",
			Quote(rcv), Quote(rcv[len(want):]))
	case !HasPrefixOf(rcv, want):
		return fails, 0, wrong("got %s", Quote(rcv))
	case ended != nil && len(rcv) == 0:
		return fails, 0, opposite{fmt.Errorf("connection %s with no reply", DescribeEnd(ended))}
	case ended != nil:
		return fails, 0, wrong("got only %s, then the connection was %s", Quote(rcv), DescribeEnd(ended))
	case len(rcv) == 0:
		return pending, 0, errors.New("no reply, the connection is still open")
	}
	return pending, 0, fmt.Errorf("got only %s so far", Quote(rcv))
}

// wrongReply is a reply with bytes that are not the expected ones. A probe
// fails at once on one (unless others-allowed): retrying until the right
// bytes happen to come back would hide a service that answers wrongly most
// of the time. A connection closed with no reply is retried instead: that
// is what a path looks like until an intention change has taken effect.
type wrongReply struct{ error }

// notConnected is an attempt that never reached the listener: it says
// nothing of what the mesh does with a connection.
type notConnected struct{ error }

func (n notConnected) Unwrap() error { return n.error }

func (w wrongReply) Unwrap() error { return w.error }

func wrong(format string, args ...any) error { return wrongReply{fmt.Errorf(format, args...)} }

// opposite is an attempt whose outcome is the opposite of the claimed
// one: a reply where none is claimed (closed, denied), a connection ended
// with no reply where a reply is claimed, a close the mesh's own
// authorization says it allows where a deny is claimed. Once the claim
// has held, it fails the step (see expect_settle.go).
type opposite struct{ error }

func (o opposite) Unwrap() error { return o.error }

// stalled is an attempt that neither held nor ended within its limit: the
// connection stayed open with no (complete) reply. It is retried; it is
// not the opposite of any claim.
type stalled struct{ error }

func (s stalled) Unwrap() error { return s.error }
