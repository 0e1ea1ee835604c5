package steps

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/wait"
)

// startHeldReply starts an exact reply on connection c that expects
// reply, held for quiet, with the peer sending reply; it returns what
// settles the step.
func startHeldReply(t *testing.T, reply string, quiet time.Duration) (*fakeEnv, net.Conn, func(context.Context) error) {
	t.Helper()
	env, peer := pipe(t)
	h := &heldReply{&expect{conn: "c", within: time.Second, reply: []byte(reply), quiet: quiet}}
	go peer.Write([]byte(reply))
	settle, err := h.Start(context.Background(), env)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return env, peer, settle
}

// An exact reply's quiet window, left to settle after Start, still fails
// the step when more bytes come within it.
func TestHeldReplyFailsOnBytesWithinItsWindow(t *testing.T) {
	_, peer, settle := startHeldReply(t, "hello\n", 200*time.Millisecond)
	go peer.Write([]byte("extra\n"))
	if err := settle(context.Background()); err == nil || !strings.Contains(err.Error(), `then "extra\n" more`) {
		t.Fatalf("settle: %v, want the extra bytes named", err)
	}
}

// The window is judged when it ends, however late the runner asks: bytes
// that came after it are left on the connection for the next expect.
func TestHeldReplyJudgesItsWindowWhenItEnds(t *testing.T) {
	env, peer, settle := startHeldReply(t, "one\n", 30*time.Millisecond)
	c, _ := env.Conn("c")
	// The window has ended once the reply is taken off the connection.
	taken := wait.Func("the reply to be taken off the connection", func(ctx context.Context) error {
		still := true
		_ = c.Await(ctx, func(rcv []byte, _ error) (int, bool) { still = strings.HasPrefix(string(rcv), "one\n"); return 0, true })
		if still {
			return errors.New("not yet")
		}
		return nil
	})
	if err := wait.For(context.Background(), taken, wait.Options{Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// After the window: the next expect's bytes, there before the
	// runner asks for the window's verdict.
	go peer.Write([]byte("two\n"))
	if err := c.Await(context.Background(), func(rcv []byte, _ error) (int, bool) { return 0, strings.Contains(string(rcv), "two") }); err != nil {
		t.Fatal(err)
	}
	if err := settle(context.Background()); err != nil {
		t.Fatalf("settle after the window: %v", err)
	}
	next := expect{conn: "c", within: time.Second, reply: []byte("two\n"), quiet: 30 * time.Millisecond}
	if err := next.Run(context.Background(), env); err != nil {
		t.Fatalf("the next expect: %v", err)
	}
}

// Only steps that can neither touch the watched connection nor cut it
// short may begin while its window is open.
func TestHeldReplyLetsOnlyHarmlessStepsPass(t *testing.T) {
	h := &heldReply{&expect{conn: "long", reply: []byte("x")}}
	for _, c := range []struct {
		name string
		next Step
		want bool
	}{
		{"a probe", &expect{probe: &Target{Service: "web", Upstream: "socat"}}, true},
		{"an intention check", &expect{}, true},
		{"an expect on another connection", &expect{conn: "other"}, true},
		{"an expect on the same connection", &expect{conn: "long"}, false},
		{"an exact reply on the same connection", &heldReply{&expect{conn: "long"}}, false},
		{"a send on another connection", &send{conn: "other"}, true},
		{"a send on the same connection", &send{conn: "long"}, false},
		{"an intention change", &setIntention{}, true},
		{"an intention deleted", &deleteIntention{}, true},
		{"a stop", &stop{}, false},
		{"a command", &run{}, false},
		{"a registration", &register{}, false},
	} {
		if got := h.Passes(c.next); got != c.want {
			t.Errorf("%s: Passes is %t, want %t", c.name, got, c.want)
		}
	}
}

// The identity and loopback checks go beside what they do not look at,
// and wait for what they do.
func TestChecksGoBesideOnlyWhatTheyDoNotLookAt(t *testing.T) {
	socatSidecar := &sidecar{service: "socat", id: "socat", name: "socat"}
	webSidecar := &sidecar{service: "web", id: "web", name: "web"}
	socat := &run{name: "socat"}
	for _, c := range []struct {
		name    string
		check   Beside
		pending Step
		want    bool
	}{
		{"loopback-only of socat beside web's sidecar", &expectLoopbackOnly{name: "socat"}, webSidecar, true},
		{"loopback-only of socat beside another command", &expectLoopbackOnly{name: "socat"}, &run{name: "echo"}, true},
		{"loopback-only of socat beside socat coming up", &expectLoopbackOnly{name: "socat"}, socat, false},
		{"loopback-only of socat's sidecar beside it coming up", &expectLoopbackOnly{name: "sidecar/socat"}, socatSidecar, false},
		{"loopback-only beside an agent", &expectLoopbackOnly{name: "socat"}, &startAgent{}, false},
		{"cert of socat beside web's sidecar", &expectCert{service: "socat"}, webSidecar, true},
		{"cert of socat beside its own sidecar", &expectCert{service: "socat"}, socatSidecar, false},
		{"cert of socat beside socat coming up", &expectCert{service: "socat"}, socat, false},
		{"cert beside an agent", &expectCert{service: "socat"}, &startAgent{}, false},
	} {
		if got := c.check.Beside(c.pending); got != c.want {
			t.Errorf("%s: Beside is %t, want %t", c.name, got, c.want)
		}
	}
}
