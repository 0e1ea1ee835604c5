package wait

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	err := For(context.Background(), Func("three calls", func(context.Context) error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}), Options{Timeout: time.Second})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestForTimesOutWithTheLastReason(t *testing.T) {
	begin := time.Now()
	err := For(context.Background(), Func("never", func(context.Context) error { return errors.New("still no") }), Options{Timeout: 50 * time.Millisecond})
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "for never; last: still no") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("took %s", took)
	}
}

func TestForFailsFastWhenNotAlive(t *testing.T) {
	dead := errors.New("process died")
	begin := time.Now()
	err := For(context.Background(), Func("x", func(context.Context) error { return errors.New("no") }),
		Options{Timeout: time.Minute, Alive: func() error { return dead }})
	if !errors.Is(err, dead) || time.Since(begin) > time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(begin))
	}
}

func TestFatalStopsAtOnce(t *testing.T) {
	boom := errors.New("boom")
	err := For(context.Background(), Func("x", func(context.Context) error { return Fatal(boom) }), Options{Timeout: time.Minute})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestTCPAndAll(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := For(context.Background(), All(TCP(addr), Func("ok", func(context.Context) error { return nil })), Options{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	err = For(context.Background(), TCP(addr), Options{Timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), addr+" to accept TCP") {
		t.Fatalf("closed port: %v", err)
	}
}

// A wait ends soon after its condition becomes true: within 50 ms even
// after it has backed off to its longest interval.
func TestForEndsSoonAfterTheConditionHolds(t *testing.T) {
	for _, after := range []time.Duration{30 * time.Millisecond, 300 * time.Millisecond} {
		readyAt := time.Now().Add(after)
		err := For(context.Background(), Func("the clock", func(context.Context) error {
			if time.Now().Before(readyAt) {
				return errors.New("not yet")
			}
			return nil
		}), Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if late := time.Since(readyAt); late > 50*time.Millisecond {
			t.Errorf("condition true after %s: the wait ended %s late", after, late)
		}
	}
}
