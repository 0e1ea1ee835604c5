package steps

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/wait"
)

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

	// perl renames itself "consul connect proxy" (its $0), then listens.
	if _, err := exec.LookPath("perl"); err != nil {
		t.Fatalf("this test needs perl: %v", err)
	}
	impostor := exec.Command("perl", "-MIO::Socket::INET", "-e",
		`$0 = "consul connect proxy -sidecar-for web"; my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 5) or die; print $s->sockport, "\n"; $| = 1; <STDIN>;`)
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
