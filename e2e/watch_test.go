package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/sockets"
)

// A process of the scenario that dies while a probe is in flight fails the
// probe within milliseconds, naming it, instead of after the probe's
// within. The probe here can never hold (it expects a reply the echo
// service never gives), so only the death can end it early.
func TestProbeInFlightFailsAtOnceWhenAProcessDies(t *testing.T) {
	needMesh(t)
	file := filepath.Join(t.TempDir(), "death.yaml")
	src := "name: death\nsteps:\n" + fmt.Sprintf(mesh, repoRoot) +
		"  - expect: {to: web/socat, send: \"x\\n\", reply: \"never\\n\", within: 1m}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	for _, victim := range []struct {
		name string
		port int
	}{{"socat", 8181}, {"sidecar/socat", 21000}, {"sidecar/web", 9191}, {"agent", 8500}} {
		t.Run(victim.name, func(t *testing.T) {
			took := killDuringProbe(t, file, victim.name, victim.port)
			t.Logf("%s killed: the probe failed %s later", victim.name, took)
			worst = max(worst, took)
			// 10-42 ms here on an idle machine; the bound leaves room for a
			// loaded CI machine without letting a probe run out its within.
			if took > 500*time.Millisecond {
				t.Errorf("the probe failed %s after %s died; want within milliseconds", took, victim.name)
			}
		})
	}
	t.Logf("slowest: %s", worst)
}

// killDuringProbe runs file, SIGKILLs the process listening on port once
// the probe has started, and returns how long after the kill the probe's
// failure was reported.
func killDuringProbe(t *testing.T, file, victim string, port int) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, scenarioBin, "run", "--json", "--logs", t.TempDir(), "--consul", consulBin, file)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Wait()
		assertNothingLeft(t)
	}()
	var killed time.Time
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev runner.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Step == nil {
			continue
		}
		switch {
		case ev.Event == "step-start" && ev.Step.Type == "expect":
			// The probe is under way (it can never hold); kill from
			// outside, as a crash or an operator would.
			pid := listenerPID(t, port)
			killed = time.Now()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %d: %v", pid, err)
			}
		case ev.Event == "step-end" && ev.Step.Outcome == runner.OutcomeFailed:
			if killed.IsZero() {
				t.Fatalf("step %d failed before the kill: %s", ev.Step.Index, ev.Step.Error)
			}
			took := ev.Time.Sub(killed)
			if want := fmt.Sprintf("process %q is not running", victim); !strings.Contains(ev.Step.Error, want) {
				t.Errorf("the failure does not name the dead process (%s):\n%s", want, ev.Step.Error)
			}
			return took
		}
	}
	t.Fatal("the run ended without a failed step")
	return 0
}

func listenerPID(t *testing.T, port int) int {
	found, err := sockets.On(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil || len(found) == 0 {
		t.Fatalf("nothing listens on %d: %v", port, err)
	}
	holders := sockets.Holders(found[0].Inode)
	if len(holders) == 0 {
		t.Fatalf("no holder of the listener on %d", port)
	}
	return holders[0].PID
}

// A `run` whose shell forked the real server and runs on after it: the
// server's death is noticed although the group's leader lives, because
// the process holding the ready listener is watched too.
func TestAWrappedServerThatDiesIsNoticed(t *testing.T) {
	needMesh(t)
	file := filepath.Join(t.TempDir(), "wrapped.yaml")
	src := "name: wrapped\nsteps:\n" + fmt.Sprintf(strings.Replace(mesh,
		"command: socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat",
		`command: "echo starting; socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat; echo socat ended with $?; sleep 1000"`, 1), repoRoot) +
		"  - expect: {to: web/socat, send: \"a\\n\", reply: \"a\\n\"}\n" +
		fmt.Sprintf("  - exec: {command: %q}\n", killListener(8181)) +
		"  - expect: {to: web/socat, send: \"b\\n\", reply: \"b\\n\", within: 1m}\n"
	if !strings.Contains(src, "sleep 1000") {
		t.Fatal("the mesh fixture changed: the wrapped command was not put in")
	}
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := scenario(t, "run", file)
	r.mustExit(t, 1)
	if !strings.Contains(r.stdout, `process "socat" is not running: pid`) || !strings.Contains(r.stdout, "exited, though its group leader runs on") {
		t.Errorf("the server's death is not named:\n%s", r.stdout)
	}
	if r.elapsed > 30*time.Second {
		t.Errorf("took %s: the probe waited out its within", r.elapsed)
	}
}

// SIGPIPE comes for any write to a broken socket, such as a probe writing
// to a connection the mesh has just refused: it must not interrupt a run
// whose stdout is still read.
func TestASIGPIPEFromASocketDoesNotInterrupt(t *testing.T) {
	needMesh(t)
	file := filepath.Join(t.TempDir(), "sigpipe.yaml")
	src := "name: sigpipe\nsteps:\n  - start-agent: {}\n" +
		"  - exec: {command: \"kill -PIPE $PPID\"}\n" +
		"  - exec: {command: \"kill -PIPE $PPID\"}\n" +
		"  - expect: {intention: {source: a, destination: b}, allowed: true}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := scenario(t, "run", file)
	r.mustExit(t, 0)
}
