// Package wait polls readiness conditions with a deadline, in the manner of
// testcontainers-go's wait strategies: a condition is a small value that says
// "ready", "not yet, because ...", or "never" (the process it waits for died).
// Nothing here sleeps a fixed time: polls start at a few milliseconds and back
// off, so a wait ends soon after its condition holds.
package wait

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Condition reports nil when ready, an error saying why not otherwise. An
// error wrapped with Fatal stops the wait at once.
type Condition interface {
	Check(ctx context.Context) error
	String() string // what is awaited, for messages: "127.0.0.1:8181 to accept TCP"
}

// Options tune a wait. The zero value is usable.
type Options struct {
	// Timeout bounds the wait when ctx has no earlier deadline.
	Timeout time.Duration
	// Alive is checked before every poll; its error ends the wait at once
	// (for example: the process that should become ready has exited).
	Alive func() error
	// MinInterval and MaxInterval bound the poll backoff.
	MinInterval, MaxInterval time.Duration
}

const (
	DefaultTimeout     = 60 * time.Second
	DefaultMinInterval = 5 * time.Millisecond
	DefaultMaxInterval = 20 * time.Millisecond
)

type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }
func (f fatalError) Unwrap() error { return f.err }

// Fatal marks err as final: the condition can never become true.
func Fatal(err error) error { return fatalError{err} }

// IsFatal reports whether err says its condition can never hold.
func IsFatal(err error) bool {
	var f fatalError
	return errors.As(err, &f)
}

// TimeoutError says a condition did not hold in time, and the last reason.
type TimeoutError struct {
	What    string
	Elapsed time.Duration
	Last    error
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("waited %s for %s", e.Elapsed.Round(time.Millisecond), e.What)
	if e.Last != nil {
		msg += "; last: " + e.Last.Error()
	}
	return msg
}

func (e *TimeoutError) Unwrap() error { return e.Last }

// For polls cond until it holds, ctx ends, the timeout passes, or Alive fails.
func For(ctx context.Context, cond Condition, opts Options) error {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = DefaultMinInterval
	}
	if opts.MaxInterval < opts.MinInterval {
		opts.MaxInterval = max(DefaultMaxInterval, opts.MinInterval)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	start := time.Now()
	interval := opts.MinInterval
	var last error
	for {
		if opts.Alive != nil {
			if err := opts.Alive(); err != nil {
				return err
			}
		}
		last = cond.Check(ctx)
		if last == nil {
			return nil
		}
		var fatal fatalError
		if errors.As(last, &fatal) {
			return fatal.err
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			if opts.Alive != nil {
				if err := opts.Alive(); err != nil {
					return err
				}
			}
			return &TimeoutError{What: cond.String(), Elapsed: time.Since(start), Last: last}
		case <-timer.C:
		}
		interval = min(interval*3/2+time.Millisecond, opts.MaxInterval)
	}
}

type funcCondition struct {
	what string
	fn   func(ctx context.Context) error
}

func (f funcCondition) Check(ctx context.Context) error { return f.fn(ctx) }
func (f funcCondition) String() string                  { return f.what }

// Func makes a condition from a function; what describes it.
func Func(what string, fn func(ctx context.Context) error) Condition {
	return funcCondition{what, fn}
}

// TCP holds when addr accepts a TCP connection.
func TCP(addr string) Condition {
	return Func(addr+" to accept TCP", func(ctx context.Context) error {
		d := net.Dialer{Timeout: 250 * time.Millisecond}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

type allCondition []Condition

func (a allCondition) Check(ctx context.Context) error {
	for _, c := range a {
		if err := c.Check(ctx); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

func (a allCondition) String() string {
	s := ""
	for i, c := range a {
		if i > 0 {
			s += " and "
		}
		s += c.String()
	}
	return s
}

// All holds when every condition holds, checked in order.
func All(conds ...Condition) Condition { return allCondition(conds) }
