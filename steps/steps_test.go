package steps

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/proc"
)

// fakeEnv serves connections only; these tests need no Consul.
type fakeEnv struct{ conns map[string]*Conn }

func (f *fakeEnv) ConsulBinary() (string, error)       { return "", errors.New("none") }
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
func (f *fakeEnv) OwnerOf(int) string                       { return "" }
func (f *fakeEnv) WatchMember(string, int, string)          {}
func (f *fakeEnv) Notef(string, ...any)                     {}
func (f *fakeEnv) Node() string                             { return "" }
func (f *fakeEnv) On(string) Env                            { return f }
func (f *fakeEnv) NodeOf(string) (string, bool)             { return "", false }
func (f *fakeEnv) NodeAddr(string) (netip.Addr, bool)       { return netip.Addr{}, false }
func (f *fakeEnv) Cluster() Cluster                         { return Cluster{} }
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The first two connections are closed without a reply (as a denied
	// intention does), the third echoes.
	go func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if i < 2 {
				c.Close()
				continue
			}
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.Write(buf[:n])
			c.Close()
		}
	}()
	e := expect{probe: &Target{Addr: l.Addr().String()}, send: "ping", reply: []byte("ping"), within: 5 * time.Second}
	if err := e.Run(context.Background(), &fakeEnv{}); err != nil {
		t.Fatal(err)
	}
	closed := expect{probe: &Target{Addr: l.Addr().String()}, send: "ping", closed: true, within: 300 * time.Millisecond}
	err = closed.Run(context.Background(), &fakeEnv{})
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.Write(buf[:n])
			c.Close()
		}
	}()
	closed := expect{probe: &Target{Addr: l.Addr().String()}, send: "ping", closed: true, within: 1500 * time.Millisecond}
	err = closed.Run(context.Background(), &lossyDialEnv{connecting: 2})
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
