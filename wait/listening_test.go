package wait

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/proc"
)

// freePort finds a loopback port nobody listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startGroup(t *testing.T, script string) *proc.Process {
	t.Helper()
	p, err := proc.Start(proc.Spec{Name: "t", Argv: []string{"/bin/sh", "-c", script}, LogPath: filepath.Join(t.TempDir(), "t.log")})
	if err != nil {
		t.Fatal(err)
	}
	force := make(chan struct{})
	close(force)
	t.Cleanup(func() { p.Stop(0, force) })
	return p
}

// A listener that another process (here: this test) holds is fatal at
// once, naming the holder, although the port accepts TCP.
func TestListeningRefusesAForeignHolderAtOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	p := startGroup(t, "exec sleep 30")
	begin := time.Now()
	err = For(context.Background(), Listening(addr, "sleeper", p.Pid()), Options{Timeout: 10 * time.Second})
	var held *PortHeldError
	if !errors.As(err, &held) || held.Holder.PID != os.Getpid() {
		t.Fatalf("err = %v; want a PortHeldError naming this test (pid %d)", err, os.Getpid())
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("took %s; a foreign holder must fail at once", took)
	}
	if err := Free(addr); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("Free(%s) = %v; want it to name this test", addr, err)
	}
}

// listenVar makes this test binary a listener on its address, until it is
// killed (TestMain): a server of the group under test that needs no socat.
const listenVar = "WAIT_TEST_LISTEN"

func listen(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c.Close()
	}
}

// The group's own listener makes it ready, whether the leader holds it
// (exec) or a forked child does (the shell stays leader); a wildcard
// listener covers a loopback address.
func TestListeningAcceptsTheGroupsOwnListener(t *testing.T) {
	t.Setenv("WAIT_TEST_BINARY", os.Args[0])
	for _, holder := range []struct{ name, prefix, suffix string }{{"leader", "exec ", ""}, {"child", "", "; true"}} {
		for _, bind := range []string{"127.0.0.1", "0.0.0.0"} {
			port := freePort(t)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			if err := Free(addr); err != nil {
				t.Fatal(err)
			}
			t.Setenv(listenVar, fmt.Sprintf("%s:%d", bind, port))
			p := startGroup(t, fmt.Sprintf(`%s"$WAIT_TEST_BINARY"%s`, holder.prefix, holder.suffix))
			if err := For(context.Background(), Listening(addr, "the listener", p.Pid()), Options{Timeout: 10 * time.Second}); err != nil {
				t.Errorf("%s, bind %s: %v", holder.name, bind, err)
			}
		}
	}
}
