package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mesh brings up the demo's mesh; its steps are 1-6.
const mesh = `  - start-agent:
      args: [-hcl, 'performance { rpc_hold_timeout = "1s" }']
  - register: %[1]s/consul.d/socat.json
  - register: %[1]s/consul.d/web.json
  - run:
      name: socat
      command: socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat
      ready: 127.0.0.1:8181
  - sidecar: socat
  - sidecar: web
`

// A phase is a step that can be caught in the middle: it blocks long
// enough for a signal or its own timeout to end it there.
type phase struct {
	name   string
	before string // steps that run first (and print "ok")
	step   string // the step to interrupt, as a list item with {{timeout}} and {{addr}}
	setup  func(t *testing.T) string
}

// gatedConsul writes a consul stand-in that signals it has started, then
// waits on a FIFO that is never opened and would exec the real consul. It
// holds start-agent in the middle, deterministically.
func gatedConsul(t *testing.T) (bin string, started string) {
	dir := t.TempDir()
	started = filepath.Join(dir, "started")
	gate := filepath.Join(dir, "gate")
	if err := syscall.Mkfifo(started, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "consul")
	// Only the agent is held: the runner also asks `consul version` (for
	// the reports made from --json), which must not pass for the agent.
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = agent ]; then\n  echo started > %s\n  read go < %s\nfi\nexec %s \"$@\"\n", started, gate, consulBin)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, started
}

// fullListener listens on loopback but never accepts, and fills its accept
// queue, so that a further connect blocks: a send caught while dialling.
func fullListener(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// A backlog of 0 holds one pending connection; with the queue full the
	// kernel drops further SYNs and connect() waits.
	for i := 0; i < 2; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

func faultPhases(t *testing.T) []phase {
	root := repoRoot
	return []phase{
		{name: "start-agent", step: "  - start-agent: {}\n{{timeout}}"},
		{
			name:   "sidecar-health",
			before: "  - start-agent: {}\n  - register: {service: {name: sick, port: 8282, connect: {sidecar_service: {address: 127.0.0.1, checks: [{name: never, tcp: \"127.0.0.1:1\", interval: 10s, status: critical}]}}}}\n",
			step:   "  - sidecar: sick\n{{timeout}}",
		},
		{
			name:   "send",
			before: "  - exec: {command: \"true\"}\n",
			step:   "  - send: {to: \"{{addr}}\", data: \"x\"}\n{{timeout}}",
			setup:  fullListener,
		},
		{
			name:   "expect-probe",
			before: fmt.Sprintf(mesh, root) + "  - set-intention: {source: web, destination: socat, action: deny}\n",
			step:   "  - expect: {to: web/socat, send: \"x\", reply: \"x\", within: 5m}\n{{timeout}}",
		},
	}
}

type fault struct {
	name   string
	signal syscall.Signal // 0: the step's own timeout
}

var faults = []fault{{"SIGINT", syscall.SIGINT}, {"SIGTERM", syscall.SIGTERM}, {"timeout", 0}}

// TestFaultInjection interrupts a run in the middle of each kind of step,
// by SIGINT, SIGTERM and the step's own timeout, and checks the exit
// status, that nothing is left running, every port is free, and the logs
// were kept.
func TestFaultInjection(t *testing.T) {
	needMesh(t)
	for _, ph := range faultPhases(t) {
		for _, f := range faults {
			t.Run(ph.name+"/"+f.name, func(t *testing.T) {
				timeoutLine := ""
				if f.signal == 0 {
					timeoutLine = "    timeout: 700ms\n"
				}
				extra := ""
				if ph.setup != nil {
					extra = ph.setup(t)
				}
				step := strings.NewReplacer("{{timeout}}", timeoutLine, "{{addr}}", extra).Replace(ph.step)
				src := "name: fault\nsteps:\n" + ph.before + step
				file := writeScenario(t, t.TempDir(), "fault.yaml", src)
				consul, started := consulBin, ""
				if ph.name == "start-agent" {
					consul, started = gatedConsul(t)
				}
				logs := t.TempDir()
				cmd := exec.Command(scenarioBin, "run", "--logs", logs, "--consul", consul, file)
				out := startAndWatch(t, cmd)
				// Wait until the run is inside the step: every step before it
				// has passed and, for start-agent, the agent process runs.
				before := strings.Count("\n"+ph.before, "\n  - ")
				if before > 0 {
					out.waitFor(t, fmt.Sprintf("ok  %3d ", before))
				}
				if started != "" {
					out.waitForFIFO(t, started)
				}
				begin := time.Now()
				if f.signal != 0 {
					if err := cmd.Process.Signal(f.signal); err != nil {
						t.Fatal(err)
					}
				}
				code := out.wait(t, 30*time.Second)
				wantCode, wantText := 130, fmt.Sprintf("--- INTERRUPTED fault: interrupted at step %d", before+1)
				if f.signal == 0 {
					wantCode, wantText = 1, "the step's timeout of 700ms passed"
				}
				if code != wantCode || !strings.Contains(out.String(), wantText) {
					t.Fatalf("exit %d (want %d), output lacks %q?\n%s", code, wantCode, wantText, out.String())
				}
				if took := time.Since(begin); took > 10*time.Second {
					t.Errorf("ending took %s", took)
				}
				if ph.name == "sidecar-health" && f.signal == 0 && !strings.Contains(out.String(), "the agent does serve a leaf certificate for sick") {
					t.Errorf("a sidecar that is not ready does not say whether the agent had its certificate:\n%s", out.String())
				}
				assertNothingLeft(t)
				if entries, _ := os.ReadDir(filepath.Join(logs, "fault")); ph.name != "send" && len(entries) == 0 {
					t.Errorf("no logs kept")
				}
			})
		}
	}
}

// watched is a running scenario whose stdout is collected line by line.
type watched struct {
	cmd   *exec.Cmd
	lines chan string
	buf   lockedBuffer
	errb  lockedBuffer
	done  chan struct{}
}

// lockedBuffer is written by the process's copier and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) { b.Write([]byte(s)) }

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startAndWatch(t *testing.T, cmd *exec.Cmd) *watched {
	w := &watched{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &w.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.buf.WriteString(sc.Text() + "\n")
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	return w
}

// waitFor blocks until a line contains s.
func (w *watched) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-w.lines:
			if !ok {
				t.Fatalf("the run ended before printing %q", s)
			}
			if strings.Contains(line, s) {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q within a minute", s)
		}
	}
}

func (w *watched) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(limit):
		t.Fatalf("the run did not end within %s", limit)
	}
	err := w.cmd.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func (w *watched) String() string { return w.buf.String() + w.errb.String() }

// waitForFIFO blocks until something writes to the FIFO at path, failing
// if the run ends first.
func (w *watched) waitForFIFO(t *testing.T, path string) {
	t.Helper()
	waitFIFO(t, path, w.done, w.String)
}

// waitFIFO blocks until something writes to the FIFO at path (a step of
// the run under test has reached it), failing with output() if done is
// closed first (the run ended).
func waitFIFO(t *testing.T, path string, done <-chan struct{}, output func() string) {
	t.Helper()
	opened := make(chan error, 1)
	go func() {
		f, err := os.Open(path) // blocks until a writer opens it
		if err == nil {
			_, err = io.ReadAll(f)
			f.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-done:
		// Unblock the goroutine's open, then report.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatalf("the run ended before the agent started:\n%s", output())
	case <-time.After(time.Minute):
		t.Fatal("the agent never started")
	}
}

// The agent or a sidecar killed from outside fails the next step that
// needs it at once, naming it and how it ended, instead of after a timeout.
func TestDeadProcessFailsTheNextStepAtOnce(t *testing.T) {
	needMesh(t)
	sidecarDies := filepath.Join(t.TempDir(), "sidecar-dies.yaml")
	src := "name: sidecar-dies\nsteps:\n" + fmt.Sprintf(mesh, repoRoot) +
		// By the listener it holds in this run's network namespace: a
		// process name would match other runs' sidecars on the machine.
		fmt.Sprintf("  - exec: {command: %q}\n", killListener(21001)) +
		"  - expect: {to: web/socat, send: \"x\", reply: \"x\", within: 1m}\n"
	if err := os.WriteFile(sidecarDies, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, want string }{
		{"testdata/e2e/agent-dies.yaml", `process "agent" is not running: killed by signal killed`},
		{sidecarDies, `process "sidecar/web" is not running: killed by signal killed`},
	} {
		r := scenario(t, "run", c.file)
		r.mustExit(t, 1)
		if !strings.Contains(r.stdout, c.want) {
			t.Errorf("the failure does not name the dead process:\n%s", r.stdout)
		}
		// The failing step itself must end at once (its within is a
		// minute); the run around it may be slow on a loaded machine.
		m := regexp.MustCompile(`(?m)^\s*FAIL\s+\d+ .*\(([0-9.]+(?:ms|s|m[0-9.]+s))\)$`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no failed step line:\n%s", r.stdout)
		}
		if took, err := time.ParseDuration(m[1]); err != nil || took > 5*time.Second {
			t.Errorf("the failing step took %s to notice (%v)", m[1], err)
		}
		// The debug bundle asks a dead agent nothing, says so once, and
		// keeps its log.
		if strings.Contains(c.file, "agent-dies") {
			if n := strings.Count(r.stdout, "bundle: could not gather"); n != 1 || !strings.Contains(r.stdout, `bundle: could not gather host: nothing asked: process "agent" is not running`) {
				t.Errorf("the bundle of a dead agent (%d problems):\n%s", n, r.stdout)
			}
			if st, err := os.Stat(filepath.Join(r.logs, "agent-dies", "bundle", "host", "agent.log")); err != nil || st.Size() == 0 {
				t.Errorf("the dead agent's log is not in the bundle: %v", err)
			}
		}
	}
}

// A second SIGINT while cleanup waits for a process that ignores SIGTERM
// kills what is left at once, still leaving nothing behind.
func TestSecondInterruptKillsAtOnce(t *testing.T) {
	needScenarioOnly(t)
	src := "name: stubborn\nsteps:\n" +
		"  - run: {name: stubborn, command: \"trap '' TERM; echo ready; exec sleep 31.7\"}\n" +
		"  - exec: {command: \"sleep 32.3\"}\n"
	file := writeScenario(t, t.TempDir(), "stubborn.yaml", src)
	logs := t.TempDir()
	cmd := exec.Command(scenarioBin, "run", "--logs", logs, file)
	out := startAndWatch(t, cmd)
	out.waitFor(t, "ok    1 run")
	// The process ignores SIGTERM only once its shell has run the trap,
	// which it reports in its log.
	logFile := filepath.Join(logs, "stubborn", "stubborn.log")
	for deadline := time.Now().Add(10 * time.Second); ; {
		if data, _ := os.ReadFile(logFile); strings.Contains(string(data), "\nready\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stubborn process never got ready:\n%s", out.String())
		}
		select {
		case <-out.done:
			t.Fatalf("the run ended early:\n%s", out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The first signal starts cleanup, which would give the stubborn
	// process its 5 s grace; the second must not wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.errb.String(), "stopping everything started") && time.Now().Before(deadline) {
		select {
		case <-out.done:
		case <-time.After(5 * time.Millisecond):
		}
	}
	second := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := out.wait(t, 30*time.Second)
	if code != 130 || !strings.Contains(out.String(), "killing what is left") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if took := time.Since(second); took > 2*time.Second {
		t.Errorf("the second interrupt took %s to end the run", took)
	}
	assertNothingLeft(t)
}

// A built-in proxy that never opens its public listener (Consul's
// hashicorp/consul#12319, seen here about once in a hundred runs under
// load) is restarted once, and the step says so. The stand-in for consul
// makes web's first proxy hang without listening, deterministically.
func TestStuckProxyIsRestartedOnce(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	stub := filepath.Join(dir, "consul")
	script := fmt.Sprintf(`#!/bin/sh
case "$*" in
  *"connect proxy -sidecar-for web"*)
    if [ ! -e %[1]s/first ]; then touch %[1]s/first; exec sleep 33.3; fi ;;
esac
exec %[2]s "$@"
`, dir, consulBin)
	if err := os.WriteFile(stub, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(scenarioBin, "run", "--logs", t.TempDir(), "--consul", stub, "scenarios/basic.yaml")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The restart comes after 5 s; how long the new proxy then takes
	// depends on the machine's load.
	if !regexp.MustCompile(`ok    6 sidecar          web \(([5-9]|\d\d)\.\d+s\)`).Match(out) {
		t.Errorf("the sidecar step does not show the 5 s wait and the restart:\n%s", out)
	}
	for _, want := range []string{
		"note: the built-in proxy had not opened its public listener after 5s; restarted it once (a known Consul issue: hashicorp/consul#12319); the agent does serve a leaf certificate for web",
		"--- PASS basic",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	assertNothingLeft(t)
}
