package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/joshdk/go-junit"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/wait"
)

// A death is how a run ends from outside, with nobody to clean up after it
// but the runner itself (or, for SIGKILL, its reaper).
type death struct {
	name        string
	signal      syscall.Signal // 0: stdout's reader goes away
	closeStdout bool
}

var deaths = []death{
	{name: "SIGKILL", signal: syscall.SIGKILL},
	{name: "SIGHUP", signal: syscall.SIGHUP},
	{name: "SIGQUIT", signal: syscall.SIGQUIT},
	{name: "stdout-closed", closeStdout: true},
}

// A deathPhase is a step caught in the middle: step (1-based) of the
// scenario has started and blocks.
type deathPhase struct {
	name   string
	src    string // the scenario's steps
	step   int
	gated  bool   // start-agent: wait until the (stand-in) agent process runs
	busy   string // a process of the step, running once the step is under way
	upOnly bool   // the run holds after its steps (up only)
}

func deathPhases() []deathPhase {
	return []deathPhase{
		{name: "start-agent", src: "  - start-agent: {}\n", step: 1, gated: true},
		{
			name: "sidecar",
			src: "  - start-agent: {}\n" +
				"  - register: {service: {name: sick, port: 8282, connect: {sidecar_service: {address: 127.0.0.1, checks: [{name: never, tcp: \"127.0.0.1:1\", interval: 10s, status: critical}]}}}}\n" +
				"  - sidecar: sick\n",
			step: 3,
			busy: "-sidecar-for sick",
		},
		{
			// socat forked by sh, which then waits: the parent-death signal
			// reaches sh only.
			name: "run",
			src:  "  - run: {name: bg, command: \"socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat & exec sleep 35.5\", ready: \"127.0.0.1:9999\"}\n",
			step: 1,
			busy: "socat TCP-LISTEN:8181",
		},
		{
			name: "exec",
			src:  "  - start-agent: {}\n  - exec: {command: \"socat TCP-LISTEN:8182,bind=127.0.0.1,reuseaddr,fork EXEC:cat & sleep 36.6\"}\n",
			step: 2,
			busy: "socat TCP-LISTEN:8182",
		},
		{
			name: "expect",
			src: fmt.Sprintf(mesh, repoRoot) + "  - set-intention: {source: web, destination: socat, action: deny}\n" +
				"  - expect: {to: web/socat, send: \"x\", reply: \"x\", within: 5m}\n",
			step: 8,
		},
		{name: "held", src: fmt.Sprintf(mesh, repoRoot), step: 0, upOnly: true},
	}
}

// deathRuns counts the cases and what was left, for the README's figures.
var deathRuns, deathLeaks atomic.Int64

// TestRunnerDeathLeavesNothing ends a run from outside in the middle of
// every kind of step, by SIGKILL, SIGHUP, SIGQUIT and a closed stdout,
// for `run`, `up` and `run --parallel`. Each case runs in a network
// namespace of its own (so that cases run side by side with the same
// ports) and marks its processes with an environment variable. After
// each: no live process carrying the mark remains (zombies aside; the
// reaper included), nothing listens in the namespace, the log folder is
// kept, and the JUnit file parses.
func TestRunnerDeathLeavesNothing(t *testing.T) {
	needMesh(t, testenv.Root, testenv.Program("ip"))
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Fatalf("these tests need ip netns (root, iproute2): %v", err)
	}
	slots := make(chan struct{}, 4) // 2 cores: four runs at once keep each fast
	for _, mode := range []string{"run", "up", "parallel"} {
		for _, ph := range deathPhases() {
			if ph.upOnly && mode != "up" {
				continue
			}
			for _, d := range deaths {
				t.Run(mode+"/"+ph.name+"/"+d.name, func(t *testing.T) {
					t.Parallel()
					slots <- struct{}{}
					defer func() { <-slots }()
					deathCase(t, mode, ph, d)
				})
			}
		}
	}
	t.Cleanup(func() {
		t.Logf("%d runs ended from outside, %d left a process behind", deathRuns.Load(), deathLeaks.Load())
	})
}

var caseSeq atomic.Int64

func deathCase(t *testing.T, mode string, ph deathPhase, d death) {
	id := fmt.Sprintf("%d-%d", os.Getpid(), caseSeq.Add(1))
	ns := "scn-death-" + id
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "fault.yaml")
	if err := os.WriteFile(file, []byte("name: fault\nsteps:\n"+ph.src), 0o644); err != nil {
		t.Fatal(err)
	}
	consul, started := consulBin, ""
	if ph.gated {
		consul, started = gatedConsul(t)
	}
	logs, report := filepath.Join(dir, "logs"), filepath.Join(dir, "junit.xml")
	args := []string{"netns", "exec", ns, scenarioBin}
	switch mode {
	case "run", "up":
		args = append(args, mode, "--json", "--logs", logs, "--junit", report, "--consul", consul, file)
	case "parallel":
		companion := filepath.Join(dir, "companion.yaml")
		if err := os.WriteFile(companion, []byte("name: companion\nsteps:\n  - exec: {command: \"sleep 37.7\"}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "run", "--parallel", "2", "--json", "--logs", logs, "--junit", report, "--consul", consul, file, companion)
	}
	// ip netns exec execs the command: the pid is the runner's.
	cmd := exec.Command("ip", args...)
	mark := "SCENARIO_DEATH_CASE=" + id
	cmd.Env = append(os.Environ(), mark)
	run := startRunner(t, cmd)

	// Wait until the run is inside the step.
	switch {
	case ph.upOnly:
		run.waitStderr(t, "everything is up")
	default:
		run.waitLine(t, `"event":"step-start","time":`, `"scenario":"fault"`, fmt.Sprintf(`"index":%d,`, ph.step))
	}
	if started != "" {
		run.waitFIFO(t, started)
	}
	if ph.busy != "" {
		run.waitProcess(t, mark, ph.busy)
	}

	deathRuns.Add(1)
	if d.closeStdout {
		run.closeStdout()
	} else if err := cmd.Process.Signal(d.signal); err != nil {
		t.Fatal(err)
	}
	state := run.wait(t, 30*time.Second)
	ws := state.Sys().(syscall.WaitStatus)
	switch {
	case d.signal == syscall.SIGKILL:
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("exit: %v, want killed", state)
		}
	case state.ExitCode() != 130:
		t.Errorf("exit: %v, want status 130\nstderr:\n%s", state, run.stderr.String())
	}

	// Nothing of the run may live on: the reaper needs a moment after a
	// SIGKILL, so this polls. A killed consul's leader shows as a zombie
	// while its other threads still exit, holding its ports: those are
	// awaited too.
	var left, listening []string
	gone := wait.Func("the run's processes to be gone", func(context.Context) error {
		if left = liveMarked(mark); len(left) > 0 {
			return fmt.Errorf("%d still running", len(left))
		}
		if listening = listeners(t, ns); len(listening) > 0 {
			return fmt.Errorf("%d ports still listening", len(listening))
		}
		return nil
	})
	_ = wait.For(context.Background(), gone, wait.Options{Timeout: 10 * time.Second, MinInterval: 20 * time.Millisecond})
	if len(left) > 0 {
		deathLeaks.Add(1)
		t.Errorf("processes of the run left behind:\n%s", strings.Join(left, "\n"))
		for _, l := range left {
			var pid int
			fmt.Sscanf(l, "%d", &pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if len(listening) > 0 {
		t.Errorf("ports still listening in the run's namespace: %v", listening)
	}
	if entries, err := os.ReadDir(filepath.Join(logs, "fault")); err != nil || len(entries) < 2 {
		t.Errorf("logs not kept: %v %v", entries, err)
	}
	if _, err := junit.IngestFile(report); err != nil {
		data, _ := os.ReadFile(report)
		t.Errorf("the JUnit file does not parse: %v\n%s", err, data)
	}
}

// listeners returns the TCP ports listening in network namespace ns.
func listeners(t *testing.T, ns string) []string {
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/tcp", "/proc/net/tcp6").Output()
	if err != nil {
		t.Fatalf("reading the namespace's sockets: %v", err)
	}
	var ports []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[3] == "0A" { // TCP_LISTEN
			ports = append(ports, f[1])
		}
	}
	return ports
}

// runnerUnderTest is a run whose stdout lines and stderr are collected.
type runnerUnderTest struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	lines  chan string
	stderr lockedBuffer
	done   chan struct{}
	closed sync.Once
}

func startRunner(t *testing.T, cmd *exec.Cmd) *runnerUnderTest {
	r := &runnerUnderTest{cmd: cmd, lines: make(chan string, 10000), done: make(chan struct{})}
	// The test holds the read end itself, so that it can close it.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr, r.stdout = pw, &r.stderr, pr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); r.closeStdout() })
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			select {
			case r.lines <- sc.Text():
			default: // nobody waits for lines any more
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(r.done)
	}()
	return r
}

func (r *runnerUnderTest) closeStdout() { r.closed.Do(func() { r.stdout.Close() }) }

// waitLine blocks until a stdout line holds every one of parts.
func (r *runnerUnderTest) waitLine(t *testing.T, parts ...string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("the run ended before a line with %q:\n%s", parts, r.stderr.String())
			}
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q within a minute:\n%s", parts, r.stderr.String())
		}
	}
}

// notYet is a wait's answer while what it awaits has not happened: fatal
// once the run has ended, which can then never do it.
func (r *runnerUnderTest) notYet() error {
	select {
	case <-r.done:
		return wait.Fatal(errors.New("the run ended first"))
	default:
		return errors.New("not yet")
	}
}

// waitProcess blocks until a live process carrying mark has a command
// line holding s.
func (r *runnerUnderTest) waitProcess(t *testing.T, mark, s string) {
	t.Helper()
	running := wait.Func(fmt.Sprintf("%q to run", s), func(context.Context) error {
		for _, p := range liveMarked(mark) {
			// The process itself, not the shell whose command line names it.
			_, cmdline, _ := strings.Cut(p, " ")
			if strings.Contains(cmdline, s) && !strings.HasPrefix(cmdline, "/bin/sh ") {
				return nil
			}
		}
		return r.notYet()
	})
	if err := wait.For(context.Background(), running, wait.Options{Timeout: time.Minute, MaxInterval: 10 * time.Millisecond}); err != nil {
		t.Fatalf("%v:\n%s", err, r.stderr.String())
	}
}

func (r *runnerUnderTest) waitStderr(t *testing.T, s string) {
	t.Helper()
	printed := wait.Func(fmt.Sprintf("%q on stderr", s), func(context.Context) error {
		if !strings.Contains(r.stderr.String(), s) {
			return r.notYet()
		}
		return nil
	})
	if err := wait.For(context.Background(), printed, wait.Options{Timeout: time.Minute, MaxInterval: 10 * time.Millisecond}); err != nil {
		t.Fatalf("%v:\n%s", err, r.stderr.String())
	}
}

// waitFIFO blocks until something writes to the FIFO at path.
func (r *runnerUnderTest) waitFIFO(t *testing.T, path string) {
	t.Helper()
	waitFIFO(t, path, r.done, r.stderr.String)
}

func (r *runnerUnderTest) wait(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(limit):
		t.Fatalf("the run did not end within %s:\n%s", limit, r.stderr.String())
	}
	if r.cmd.ProcessState == nil {
		t.Fatal(errors.New("no process state"))
	}
	return r.cmd.ProcessState
}
