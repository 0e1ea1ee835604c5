package steps

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/wait"
)

// impostorVar makes this test binary play a process that only calls itself
// a Connect proxy: it listens on a loopback port, prints the port and
// keeps listening until its stdin closes.
const impostorVar = "STEPS_TEST_IMPOSTOR"

func listenUntilStdinCloses() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// proxyListens checks, on the host, that addr is a Connect proxy's.
func proxyListens(addr string) error {
	_, err := connectProxyHolders(func(fn func() error) error { return fn() }, addr)
	return err
}

// On an existing cluster (run --agent) a probe's upstream listener must be
// a Connect proxy's: a plain listener in its place fails at once, and so
// does a process that only calls itself one on its command line.
func TestProxyListensRefusesWhatIsNotAProxy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = proxyListens(l.Addr().String())
	if err == nil || !wait.IsFatal(err) || !strings.Contains(err.Error(), "is not a Connect proxy") {
		t.Fatalf("a plain listener: %v", err)
	}

	// This test binary, started under the name "consul connect proxy",
	// listens (TestMain): /proc shows that command line, and its
	// executable is no consul.
	impostor := exec.Command(os.Args[0])
	impostor.Args = []string{"consul", "connect", "proxy", "-sidecar-for", "web"}
	impostor.Env = append(os.Environ(), impostorVar+"=1")
	stdin, _ := impostor.StdinPipe()
	out, _ := impostor.StdoutPipe()
	if err := impostor.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); impostor.Wait() }()
	buf := make([]byte, 16)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strings.TrimSpace(string(buf[:n]))
	err = proxyListens(addr)
	if err == nil || !strings.Contains(err.Error(), "consul connect proxy -sidecar-for web") {
		t.Fatalf("a process named like a proxy on %s: %v", addr, err)
	}
}
