package steps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/flows"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// fakeEnv serves connections only; these tests need no Consul.
type fakeEnv struct{ conns map[string]*Conn }

func (f *fakeEnv) ConsulBinary() (string, error)       { return "", errors.New("none") }
func (f *fakeEnv) Guardian() proc.Guardian             { return nil }
func (f *fakeEnv) Consul() (*api.Client, error)        { return nil, errors.New("no agent") }
func (f *fakeEnv) SetAgent(*proc.Process, *api.Config) {}
func (f *fakeEnv) AgentAddress() string                { return "" }
func (f *fakeEnv) RunDir() string                      { return "" }
func (f *fakeEnv) CommandEnv() (string, []string)      { return "", nil }
func (f *fakeEnv) ConsulEnv() (string, []string)       { return "", nil }
func (f *fakeEnv) SetToken(string, string)             {}
func (f *fakeEnv) Token(string) (string, bool)         { return "", false }
func (f *fakeEnv) Start(string, []string, ...StartOption) (*proc.Process, error) {
	return nil, errors.New("not here")
}
func (f *fakeEnv) Process(string) (*proc.Process, bool)     { return nil, false }
func (f *fakeEnv) Stop(string) error                        { return nil }
func (f *fakeEnv) OwnerOf(int, int) string                  { return "" }
func (f *fakeEnv) WatchMember(string, int, string)          {}
func (f *fakeEnv) Notef(string, ...any)                     {}
func (f *fakeEnv) Attempted(Attempt)                        {}
func (f *fakeEnv) Captured(flows.Evidence)                  {}
func (f *fakeEnv) Table([]string, []TableCell)              {}
func (f *fakeEnv) Node() string                             { return "" }
func (f *fakeEnv) On(string) Env                            { return f }
func (f *fakeEnv) NodeOf(string) (string, bool)             { return "", false }
func (f *fakeEnv) NodeAddr(string) (netip.Addr, bool)       { return netip.Addr{}, false }
func (f *fakeEnv) Cluster() spec.Cluster                    { return spec.Cluster{} }
func (f *fakeEnv) Inside(fn func() error) error             { return fn() }
func (f *fakeEnv) Network() Network                         { return nil }
func (f *fakeEnv) External() bool                           { return false }
func (f *fakeEnv) Undo(string, func(context.Context) error) {}
func (f *fakeEnv) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
func (f *fakeEnv) AddConn(name string, c *Conn) { f.conns[name] = c }
func (f *fakeEnv) Conn(name string) (*Conn, error) {
	if c, ok := f.conns[name]; ok {
		return c, nil
	}
	return nil, errors.New("no conn")
}

// pipe returns an env holding connection "c" and the peer's end.
func pipe(t *testing.T) (*fakeEnv, net.Conn) {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	env := &fakeEnv{conns: map[string]*Conn{"c": NewConn(client, "peer")}}
	return env, server
}

func TestExpectReplyOnConnection(t *testing.T) {
	cases := []struct {
		name    string
		exp     expect
		peer    func(net.Conn)
		wantErr string
	}{
		{"exact reply", expect{reply: []byte("hello\n")}, func(c net.Conn) { c.Write([]byte("hello\n")) }, ""},
		{"reply in pieces", expect{reply: []byte("hello\n")}, func(c net.Conn) { c.Write([]byte("hel")); c.Write([]byte("lo\n")) }, ""},
		{"wrong reply fails at once", expect{reply: []byte("hello\n")}, func(c net.Conn) { c.Write([]byte("nope")) }, `got "nope"`},
		{"closed instead", expect{reply: []byte("hello\n")}, func(c net.Conn) { c.Close() }, "closed by the peer (EOF) with no reply"},
		{"partial then closed", expect{reply: []byte("hello\n")}, func(c net.Conn) { c.Write([]byte("he")); c.Close() }, `got only "he", then the connection was closed by the peer`},
		{"silence", expect{reply: []byte("x")}, func(net.Conn) {}, "no reply, the connection is still open (after 100ms)"},
		{"closed as expected", expect{closed: true}, func(c net.Conn) { c.Close() }, ""},
		{"bytes where a close was expected", expect{closed: true}, func(c net.Conn) { c.Write([]byte("hi")) }, `got reply "hi"`},
		{"open where a close was expected", expect{closed: true}, func(net.Conn) {}, "still open"},
		{"silent and open", expect{silent: 80 * time.Millisecond}, func(net.Conn) {}, ""},
		{"bytes where silence was expected", expect{silent: 80 * time.Millisecond}, func(c net.Conn) { c.Write([]byte("hi")) },
			`expected the connection to stay open with nothing back for 80ms on connection c to peer; got "hi" after`},
		{"a close where silence was expected", expect{silent: 80 * time.Millisecond}, func(c net.Conn) { c.Close() },
			"the connection was closed by the peer (EOF) after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, peer := pipe(t)
			go c.peer(peer)
			e := c.exp
			e.conn, e.within = "c", 100*time.Millisecond
			err := e.Run(context.Background(), env)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected failure: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
}

func TestExpectConsumesWhatItMatched(t *testing.T) {
	env, peer := pipe(t)
	go peer.Write([]byte("one\ntwo\n"))
	first := expect{conn: "c", within: time.Second, replyPrefix: []byte("one\n")}
	if err := first.Run(context.Background(), env); err != nil {
		t.Fatalf("expect prefix one: %v", err)
	}
	second := expect{conn: "c", within: time.Second, reply: []byte("two\n"), quiet: DefaultQuiet}
	if err := second.Run(context.Background(), env); err != nil {
		t.Fatalf("expect two: %v", err)
	}
}

// An exact reply is exactly these bytes: more bytes arriving before the
// connection goes quiet fail it, whether they came in the same write or a
// moment later.
func TestExactReplyRefusesExtraBytes(t *testing.T) {
	for name, tc := range map[string]struct {
		exp   expect
		write func(c net.Conn)
		want  string
	}{
		"one write": {expect{reply: []byte("hello")}, func(c net.Conn) { c.Write([]byte("hello ERROR-500\n")) },
			`got "hello ERROR-500\n": the expected bytes, then " ERROR-500\n" more`},
		"two writes": {expect{reply: []byte("hello\n")}, func(c net.Conn) {
			c.Write([]byte("hello\n"))
			c.Write([]byte("extra\n"))
		}, `then "extra\n" more`},
		"prefix allows more": {expect{replyPrefix: []byte("hello")}, func(c net.Conn) { c.Write([]byte("hello ERROR-500\n")) }, ""},
		"matches once quiet": {expect{replyMatch: regexp.MustCompile(`^hello \d+\n$`)}, func(c net.Conn) {
			c.Write([]byte("hello "))
			c.Write([]byte("42\n"))
		}, ""},
		"matches refuses a longer reply": {expect{replyMatch: regexp.MustCompile(`^hello\n$`)}, func(c net.Conn) {
			c.Write([]byte("hello\n"))
			c.Write([]byte("more\n"))
		}, "does not match"},
	} {
		t.Run(name, func(t *testing.T) {
			env, peer := pipe(t)
			tc.exp.conn, tc.exp.within, tc.exp.quiet = "c", 300*time.Millisecond, 50*time.Millisecond
			go tc.write(peer)
			err := tc.exp.Run(context.Background(), env)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected failure: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestProbeRetriesUntilItHolds(t *testing.T) {
	// The first two connections are closed without a reply (as a denied
	// intention does), the third echoes.
	addr := acceptEach(t, listenLocal(t), func(i int, c net.Conn) {
		defer c.Close()
		if i < 2 {
			return
		}
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Write(buf[:n])
	})
	e := expect{probe: &Target{Addr: addr}, send: "ping", reply: []byte("ping"), within: 5 * time.Second}
	if err := e.Run(context.Background(), &fakeEnv{}); err != nil {
		t.Fatal(err)
	}
	closed := expect{probe: &Target{Addr: addr}, send: "ping", closed: true, within: 300 * time.Millisecond}
	err := closed.Run(context.Background(), &fakeEnv{})
	if err == nil || !strings.Contains(err.Error(), `got reply "ping"`) || !strings.Contains(err.Error(), "attempts") {
		t.Fatalf("a probe expecting a close on an echoing service: %v", err)
	}
}

// lossyDialEnv loses every dial after the first few, as a SYN lost on
// loopback does (the dial times out).
type lossyDialEnv struct {
	fakeEnv
	dials, connecting int
}

func (f *lossyDialEnv) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if f.dials++; f.dials > f.connecting {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	return f.fakeEnv.Dial(ctx, network, addr)
}

// A failure names what the mesh did with the attempts that connected, not
// only that the last dial was lost.
func TestProbeFailureNamesTheLastAttemptThatConnected(t *testing.T) {
	echo := echoServer(t)
	closed := expect{probe: &Target{Addr: echo}, send: "ping", closed: true, within: 1500 * time.Millisecond}
	err := closed.Run(context.Background(), &lossyDialEnv{connecting: 2})
	if err == nil || !strings.Contains(err.Error(), "could not connect") ||
		!strings.Contains(err.Error(), `the last attempt that connected: got reply "ping"`) {
		t.Fatalf("a probe whose last dial was lost: %v", err)
	}
}

func TestFlagValue(t *testing.T) {
	args := []string{"-hcl", "x", "-http-port=8600", "--client", "127.0.0.2"}
	if got := flagValue(args, "http-port"); got != "8600" {
		t.Errorf("http-port = %q", got)
	}
	if got := flagValue(args, "client"); got != "127.0.0.2" {
		t.Errorf("client = %q", got)
	}
	s := &startAgent{args: args}
	if got := s.httpAddr(); got != "127.0.0.2:8600" {
		t.Errorf("httpAddr = %q", got)
	}
	if got := (&startAgent{}).httpAddr(); got != "127.0.0.1:8500" {
		t.Errorf("default httpAddr = %q", got)
	}
}

func TestRegistryRendersEveryType(t *testing.T) {
	for _, ty := range Default().Types() {
		if ty.Fields == "" || ty.Summary == "" || !strings.HasPrefix(ty.Example, "- "+ty.Name+":") {
			t.Errorf("step type %s is not fully documented: %+v", ty.Name, ty)
		}
	}
}

func TestStreakNeededGrowsWithChance(t *testing.T) {
	for _, c := range []struct {
		odds     streakOdds
		times    int
		others   bool
		min, max int
	}{
		{streakOdds{}, 20, false, 20, 20},                     // nothing else seen or said: as asked
		{streakOdds{right: 3}, 10, false, 10, 10},             // ca-rotation's "none fails"
		{streakOdds{}, 5, true, 15, 15},                       // others-allowed: something else answers
		{streakOdds{right: 0, other: 7}, 5, true, 20, 20},     // a change after only others
		{streakOdds{right: 1, other: 1}, 20, true, 20, 20},    // health-instances' usual mix: 17 would do
		{streakOdds{right: 20, other: 23}, 5, true, 25, 25},   // a steady 50/50: 5 is chance
		{streakOdds{right: 0, other: 5}, 20, false, 20, 20},   // servers-lost: closes before, 19 would do
		{streakOdds{right: 49, other: 1}, 20, true, 400, 440}, // mostly expected already
		{streakOdds{right: 9999, other: 1}, 20, true, maxStreak, maxStreak},
	} {
		if got := c.odds.needed(c.times, c.others); got < c.min || got > c.max {
			t.Errorf("%+v.needed(%d, %t) = %d, want %d..%d", c.odds, c.times, c.others, got, c.min, c.max)
		}
	}
}

// replyPattern serves one connection after another, answering each with
// the next reply of pattern (the last one forever after).
func replyPattern(t *testing.T, pattern func(i int) string) string {
	return replyPatternHolding(t, pattern, false)
}

// replyPatternHolding is replyPattern; with hold, it keeps each connection
// open after its reply.
func replyPatternHolding(t *testing.T, pattern func(i int) string, hold bool) string {
	return acceptEach(t, listenLocal(t), func(i int, c net.Conn) {
		buf := make([]byte, 64)
		c.Read(buf)
		c.Write([]byte(pattern(i)))
		if hold {
			t.Cleanup(func() { c.Close() })
			return
		}
		c.Close()
	})
}

// times with others-allowed: a streak that a steady mix of replies makes
// by chance does not pass; one after the mix changed does.
func TestStreakMustBeMoreThanChance(t *testing.T) {
	probe := func(addr string) error {
		e := expect{probe: &Target{Addr: addr}, send: "x", reply: []byte("one"), times: 5, othersAllowed: true,
			within: 3 * time.Second, quiet: time.Millisecond}
		return e.Run(context.Background(), &fakeEnv{})
	}
	// Ten "two"s among the first twenty, then runs of six "one"s with a
	// "two" between: every run passes times: 5, none is more than chance.
	steady := replyPattern(t, func(i int) string {
		if i < 20 {
			return []string{"one", "two"}[i%2]
		}
		if (i-20)%7 == 6 {
			return "two"
		}
		return "one"
	})
	if err := probe(steady); err == nil || !strings.Contains(err.Error(), "more than chance") {
		t.Fatalf("a steady mix passed 5 in a row: %q", err)
	}
	// A close (no reply), then runs of six "one"s with a close between:
	// without others-allowed, a close once "one" has come is contrary
	// evidence, which fails the step at once.
	closing := replyPattern(t, func(i int) string {
		if i%7 == 0 {
			return ""
		}
		return "one"
	})
	e := expect{probe: &Target{Addr: closing}, send: "x", reply: []byte("one"), times: 5, within: 2 * time.Second, quiet: time.Millisecond}
	if err := e.Run(context.Background(), &fakeEnv{}); err == nil || !strings.Contains(err.Error(), "did otherwise: connection closed by the peer") {
		t.Fatalf("runs between closes passed 5 in a row: %v", err)
	}
	// The same twenty, then only "one": the change shows after 23 in a row.
	changed := replyPattern(t, func(i int) string {
		if i < 20 {
			return []string{"one", "two"}[i%2]
		}
		return "one"
	})
	if err := probe(changed); err != nil {
		t.Fatalf("a real change failed: %v", err)
	}
}

// reply-matches: a reply that does not match and stays is a wrong reply,
// which fails at once without others-allowed.
func TestReplyMatchesWrongReplyFailsAtOnce(t *testing.T) {
	addr := replyPatternHolding(t, func(int) string { return "two" }, true)
	e := expect{probe: &Target{Addr: addr}, send: "x", replyMatch: regexp.MustCompile("^one$"), within: 3 * time.Second, quiet: time.Millisecond}
	start := time.Now()
	err := e.Run(context.Background(), &fakeEnv{})
	if err == nil || !strings.Contains(err.Error(), "a wrong reply fails at once") || time.Since(start) > 2*time.Second {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
}

// SERVICE/UPSTREAM means the only upstream of that name, or of several the
// local one; @DC picks by datacenter; what stays ambiguous is an error.
func TestPickUpstream(t *testing.T) {
	ups := []api.Upstream{
		{DestinationName: "orders", Datacenter: "dc9", LocalBindPort: 6001},
		{DestinationName: "orders", LocalBindPort: 6004},
		{DestinationName: "billing", Datacenter: "dc2", LocalBindPort: 6002},
		{DestinationName: "stock", LocalBindPort: 6005},
		{DestinationName: "stock", LocalBindPort: 6006},
	}
	for _, c := range []struct {
		name, dc string
		port     int
		err      string
	}{
		{"orders", "", 6004, ""},
		{"orders", "dc9", 6001, ""},
		{"billing", "", 6002, ""},
		{"billing", "dc2", 6002, ""},
		{"orders", "dc7", 0, `no upstream "orders" in datacenter dc7 (there are: orders @dc9 on 127.0.0.1:6001, orders local on 127.0.0.1:6004)`},
		{"stock", "", 0, `2 upstreams "stock" in the local datacenter`},
		{"nosuch", "", 0, `no upstream "nosuch"`},
	} {
		u, err := spec.PickUpstream(ups, c.name, c.dc)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s@%s: %v, want an error with %q", c.name, c.dc, err, c.err)
		case c.err == "" && (err != nil || u.LocalBindPort != c.port):
			t.Errorf("%s@%s: %v, %v; want port %d", c.name, c.dc, u, err, c.port)
		}
	}
}

// listenLocal listens on a free loopback port.
func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// acceptEach hands each connection l accepts, numbered from 0, to handle
// in a goroutine of its own until l closes at the end of the test; it
// returns l's address.
func acceptEach(t *testing.T, l net.Listener, handle func(i int, c net.Conn)) string {
	t.Cleanup(func() { l.Close() })
	go func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(i, c)
		}
	}()
	return l.Addr().String()
}

// echoServer answers each connection's first read with the same bytes and
// closes it; it returns its address.
func echoServer(t *testing.T) string {
	return acceptEach(t, listenLocal(t), func(_ int, c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Write(buf[:n])
	})
}

// An urgent (out-of-band) byte is a byte back too: silent fails on it (an
// adversarial tester's server sent one with MSG_OOB and silent passed).
func TestSilentSeesUrgentBytes(t *testing.T) {
	l := listenLocal(t)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	env := &fakeEnv{conns: map[string]*Conn{"c": NewConn(raw, "peer")}}
	defer raw.Close()
	server := <-accepted
	defer server.Close()
	sc, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var sendErr error
	if err := sc.Control(func(fd uintptr) { sendErr = syscall.Sendto(int(fd), []byte("!"), syscall.MSG_OOB, nil) }); err != nil || sendErr != nil {
		t.Fatal(err, sendErr)
	}
	e := expect{conn: "c", silent: 500 * time.Millisecond}
	if err := e.Run(context.Background(), env); err == nil || !strings.Contains(err.Error(), `got "!"`) {
		t.Fatalf("silent with an urgent byte back: %v", err)
	}
}

// notingEnv keeps the notes a step makes.
type notingEnv struct {
	fakeEnv
	notes []string
}

func (n *notingEnv) Notef(format string, args ...any) {
	n.notes = append(n.notes, fmt.Sprintf(format, args...))
}

// A passing times: N says how many attempts the run took: five replies in
// a row at once, or a run after two closes (which, being something else,
// make chance ask for a longer run).
func TestPassingTimesSaysHowManyAttemptsItTook(t *testing.T) {
	probe := func(addr string, times int) []string {
		env := &notingEnv{}
		e := expect{probe: &Target{Addr: addr}, send: "x", reply: []byte("one"), times: times, within: 5 * time.Second, quiet: time.Millisecond}
		if err := e.Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		return env.notes
	}
	steady := replyPattern(t, func(int) string { return "one" })
	if notes := probe(steady, 5); len(notes) != 1 || !strings.HasPrefix(notes[0], "5 held in a row; 5 attempts in all, in ") {
		t.Errorf("notes: %q", notes)
	}
	afterCloses := replyPattern(t, func(i int) string {
		if i < 2 {
			return ""
		}
		return "one"
	})
	notes := probe(afterCloses, 5)
	m := regexp.MustCompile(`^(\d+) held in a row, not just 5: .*; (\d+) attempts in all, in `).FindStringSubmatch(strings.Join(notes, "|"))
	if m == nil {
		t.Fatalf("notes: %q", notes)
	}
	held, _ := strconv.Atoi(m[1])
	attempts, _ := strconv.Atoi(m[2])
	if attempts != held+2 {
		t.Errorf("%d held after 2 closes, but %d attempts: %q", held, attempts, notes)
	}
	// times: 1 keeps its note as it was: none.
	if notes := probe(steady, 1); len(notes) != 0 {
		t.Errorf("times 1: notes %q", notes)
	}
}

func TestAgentCommandPutsTheScenarioFlagsLast(t *testing.T) {
	leave := false
	cmd := agentCommand{Server: true, BootstrapExpect: 3, Node: "n1", RetryJoin: []string{"10.0.0.2"},
		RetryInterval: "250ms", GRPCPort: 8502, RaftMultiplier: 1, RPCHoldTimeout: "1s",
		LeaveOnTerminate: &leave, Args: []string{"-hcl", "leave_on_terminate = true"}}
	got := strings.Join(cmd.argv("consul"), " ")
	want := `consul agent -server -bootstrap-expect=3 -node n1 -retry-join 10.0.0.2 -retry-interval 250ms -hcl ports { grpc = 8502 } -hcl performance { raft_multiplier = 1, rpc_hold_timeout = "1s" } -hcl leave_on_terminate = false -hcl leave_on_terminate = true`
	if got != want {
		t.Errorf("argv =\n%s\nwant\n%s", got, want)
	}
}

func TestStartAgentReadsItsSettingsAsConsulDoes(t *testing.T) {
	cases := []struct {
		args      []string
		token     string
		denies    bool
		leaveSets bool
	}{
		{[]string{"-hcl", `acl { default_policy = "deny" tokens { initial_management = "root" } }`}, "root", true, false},
		{[]string{"-hcl=# acl { default_policy = \"deny\" }"}, "", false, false},
		{[]string{"--hcl", "leave_on_terminate = true"}, "", false, true},
		{[]string{"-node", "hcl", "-log-level", `default_policy = "deny"`}, "", false, false},
	}
	for _, c := range cases {
		settings, err := consuldef.ReadAgentSettings(consuldef.AgentSources{HCL: hclValues(t, c.args)})
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if settings.ManagementToken != c.token || (settings.DefaultPolicy == "deny") != c.denies || (settings.LeaveOnTerminate != nil) != c.leaveSets {
			t.Errorf("%q: settings %+v", c.args, settings)
		}
	}
}

// hclValues are the -hcl values of args, flags of consul agent.
func hclValues(t *testing.T, args []string) []string {
	t.Helper()
	parsed, err := consuldef.ParseAgentArgs(args)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return consuldef.Values(parsed.HCL)
}

// leaveEnv is a node's environment for building an agent's command line.
type leaveEnv struct {
	fakeEnv
	cluster spec.Cluster
}

func (e *leaveEnv) Cluster() spec.Cluster { return e.cluster }
func (e *leaveEnv) NodeAddr(string) (netip.Addr, bool) {
	return netip.MustParseAddr("10.77.0.1"), true
}

// What cleanup is told of an agent's leave on SIGTERM (StartOption.Leaves)
// is what its command line makes Consul do: the last leave_on_terminate
// among its -hcl flags, else Consul's default (a client leaves, a server
// stays).
func TestAnAgentOnANodeLeavesOnTerminateAsItsCommandLineSays(t *testing.T) {
	cluster := spec.Cluster{Nodes: []string{"s", "c"}, Agents: []spec.AgentPlan{{Node: "s", Datacenter: "dc1", Server: true}, {Node: "c", Datacenter: "dc1"}}}
	for _, server := range []bool{false, true} {
		for _, args := range [][]string{nil, {"-hcl", "leave_on_terminate = true"}, {"-hcl", "leave_on_terminate = false"}} {
			settings, err := consuldef.ReadAgentSettings(consuldef.AgentSources{HCL: hclValues(t, args)})
			if err != nil {
				t.Fatal(err)
			}
			s := &startAgent{topology: true, server: server, datacenter: "dc1", args: args, settings: settings}
			argv := s.nodeCommand(&leaveEnv{cluster: cluster}, "c", "10.77.0.2").argv("consul")
			consulLeaves := !server // Consul's default
			for i, a := range argv {
				if a == "-hcl" && i+1 < len(argv) && strings.HasPrefix(argv[i+1], "leave_on_terminate = ") {
					consulLeaves = strings.HasSuffix(argv[i+1], "true")
				}
			}
			if got := s.leavesOnTerminate(); got != consulLeaves {
				t.Errorf("server %t, args %q: leavesOnTerminate %t, but the agent %q leaves: %t", server, args, got, argv, consulLeaves)
			}
		}
	}
}

// startEnv is a node's environment that captures the agent's start.
type startEnv struct {
	leaveEnv
	argv []string
	opts []StartOption
}

func (e *startEnv) ConsulBinary() (string, error) { return "consul", nil }
func (e *startEnv) Node() string                  { return "c" }
func (e *startEnv) Dial(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("nothing listens on a fresh node")
}
func (e *startEnv) Start(_ string, argv []string, opts ...StartOption) (*proc.Process, error) {
	e.argv, e.opts = argv, opts
	return nil, errors.New("captured")
}

// An agent's config given in start-agent.args (-config-dir, -config-file,
// relative to the scenario file) is read as the agent reads it: a client
// whose -config-dir sets leave_on_terminate = true is started as one that
// leaves (StartOption.Leaves, which orders cleanup), the runner does not
// turn the leave off, and the agent is given the path absolute.
func TestConfigInStartAgentArgsDecidesWhetherTheAgentLeaves(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "leave.hcl"), []byte("leave_on_terminate = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stay.json"), []byte(`{"leave_on_terminate": false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cluster := spec.Cluster{Nodes: []string{"s", "c"}, Agents: []spec.AgentPlan{{Node: "s", Datacenter: "dc1", Server: true}, {Node: "c", Datacenter: "dc1"}}}
	for _, c := range []struct {
		args   string
		leaves bool
	}{
		{"[-config-dir, conf]", true},
		{"[--config-dir=conf]", true},
		{"[-config-dir, conf, -config-file, stay.json]", false},
		{"[-config-file, stay.json, -config-dir, conf]", true},
		{"[-config-dir, conf, -hcl, 'leave_on_terminate = false']", false},
		{"[]", false},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("{args: "+c.args+"}"), &doc); err != nil {
			t.Fatal(err)
		}
		var nodes yaml.Node
		if err := yaml.Unmarshal([]byte("[s, c]"), &nodes); err != nil {
			t.Fatal(err)
		}
		d := spec.NewDecoder(filepath.Join(dir, "s.yaml"))
		d.DecodeNodes(nodes.Content[0])
		d.BeginNode("c")
		step := startAgentType.Decode(d, doc.Content[0])
		if errs := d.Errors(); len(errs) > 0 {
			t.Fatalf("%s: %v", c.args, errs)
		}
		env := &startEnv{leaveEnv: leaveEnv{cluster: cluster}}
		if _, err := step.(*startAgent).Start(context.Background(), env); err == nil || err.Error() != "captured" {
			t.Fatalf("%s: start: %v", c.args, err)
		}
		leaves := false
		for _, o := range env.opts {
			leaves = leaves || o.Leaves
		}
		if leaves != c.leaves {
			t.Errorf("%s: started with Leaves %t, want %t", c.args, leaves, c.leaves)
		}
		argv := strings.Join(env.argv, " ")
		if c.leaves && strings.Contains(argv, "leave_on_terminate = false") {
			t.Errorf("%s: the runner turns off the leave the config asks for: %s", c.args, argv)
		}
		if strings.Contains(c.args, "conf") && !strings.Contains(argv, "config-dir "+filepath.Join(dir, "conf")) && !strings.Contains(argv, "config-dir="+filepath.Join(dir, "conf")) {
			t.Errorf("%s: the agent is not given the scenario's conf: %s", c.args, argv)
		}
	}
}

// A path in start-agent.args that does not exist is refused at its own
// argument, relative to the scenario file as config-dir is; so is a flag
// consul agent does not have, and a -config-format it does not read.
func TestStartAgentArgsAreRefusedWhereTheyAreWritten(t *testing.T) {
	dir := t.TempDir()
	for src, want := range map[string]string{
		"{args: [-log-level, debug, -config-file, acl.hcl]}":   "s.yaml:1:42: start-agent.args: -config-file acl.hcl: " + filepath.Join(dir, "acl.hcl") + " does not exist (paths are relative to the scenario file's directory " + dir + "); fix the path",
		"{args: ['-config-dir=nowhere']}":                      "s.yaml:1:9: start-agent.args: -config-dir nowhere: " + filepath.Join(dir, "nowhere") + " does not exist",
		"{args: [-server, -confg-file, a.hcl]}":                "s.yaml:1:18: start-agent.args: flag provided but not defined: -confg-file (consul agent has no such flag); consul agent would refuse to start",
		"{args: [-config-format, yaml]}":                       `s.yaml:1:25: start-agent.args: -config-format "yaml": Consul reads config files as hcl or json only`,
		"{args: [-hcl, 'acl { default_policy = ']}":            "s.yaml:1:15: start-agent.args: -hcl: invalid HCL",
		"{args: [-config-file]}":                               "s.yaml:1:9: start-agent.args: flag needs an argument: -config-file",
		"{args: [-config-file, ., -config-format, hcl, -dev]}": "",
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		d := spec.NewDecoder(filepath.Join(dir, "s.yaml"))
		startAgentType.Decode(d, doc.Content[0])
		var got []string
		for _, e := range d.Errors() {
			got = append(got, e.Error())
		}
		switch {
		case want == "" && strings.Contains(strings.Join(got, "\n"), "config"):
			t.Errorf("%s: refused: %q", src, got)
		case want != "" && (len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), want)):
			t.Errorf("%s: errors %q, want %q", src, got, want)
		}
	}
}
