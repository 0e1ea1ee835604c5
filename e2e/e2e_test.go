// Package e2e runs the scenario binary against real consul, consul connect
// proxy and socat processes, as a user would.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/topology"
)

var (
	scenarioBin string // built by TestMain
	consulBin   string // "" when consulMissing says why
	repoRoot    string

	consulMissing error
)

// consul is the requirement of a consul binary, found as `scenario run`
// finds one; $CONSUL naming none is a mistake, not an absence.
var consul = testenv.Requirement{
	Name: "consul",
	Missing: func() error { // its errors say to run `make setup`
		if consulMissing != nil && os.Getenv("CONSUL") != "" {
			return testenv.Wrong(consulMissing)
		}
		return consulMissing
	},
}

// namespaces is the requirement of the right to make network namespaces:
// topologies, and parallel runs that share ports.
var namespaces = testenv.Namespaces(topology.Permitted)

// needMesh says that t starts a mesh: it needs consul, socat (the echo
// service) and ss, and what else t names.
func needMesh(t *testing.T, more ...testenv.Requirement) {
	t.Helper()
	testenv.Need(t, append([]testenv.Requirement{consul, testenv.Program("socat"), testenv.Program("ss")}, more...)...)
}

// scenarioOnly holds the names of the top-level tests that said
// needScenarioOnly.
var scenarioOnly sync.Map

// needScenarioOnly says that t needs nothing but the scenario binary (built
// from this tree by TestMain): its scenarios start no mesh, so the short
// tier runs it, and assertNothingLeft leaves the mesh ports alone (a
// developer's own Consul may hold 8500).
func needScenarioOnly(t *testing.T) {
	top, _, _ := strings.Cut(t.Name(), "/")
	scenarioOnly.Store(top, true)
}

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

// runMarker is set in this process's environment, which every process a
// test starts inherits (runners, consul, socat, what they fork), so that
// leftovers counts this suite's processes only, not those of other suites
// running on the same machine.
var runMarker = fmt.Sprintf("SCENARIO_E2E_RUN=%d-%d", os.Getpid(), time.Now().UnixNano())

func init() {
	m := marked(runMarker)
	os.Setenv(m.Var, m.Value)
}

// marked is the mark of a "VAR=value" marker, to find its processes.
func marked(marker string) proc.Mark {
	name, value, _ := strings.Cut(marker, "=")
	return proc.Mark{Var: name, Value: value}
}

// cmdlineOf is process pid's command line, its arguments joined by
// spaces ("" for a kernel thread, or a process that is gone).
func cmdlineOf(pid int) string {
	raw, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", " ")
}

// liveMarked lists the live (not zombie) processes whose environment
// holds marker, each as its pid and command line.
func liveMarked(marker string) []string {
	var found []string
	for _, pid := range marked(marker).Processes(nil) {
		found = append(found, strconv.Itoa(pid)+" "+cmdlineOf(pid))
	}
	return found
}

func setup(m *testing.M) int {
	var err error
	if repoRoot, err = filepath.Abs(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Chdir(repoRoot); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Each test that needs consul says so (needMesh); the others, which
	// exercise the command line, run without it.
	consulBin, consulMissing = runner.FindConsul("")
	dir, err := os.MkdirTemp("", "scenario-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	scenarioBin = filepath.Join(dir, "scenario")
	build := exec.Command("go", "build", "-o", scenarioBin, "./cmd/scenario")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Makefile builds it
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building scenario: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	// Asking whether cells are available (testenv.Cells) makes no cgroup,
	// and this process starts nothing in one: the suite leaves no cgroup
	// of its own behind.
	if dir := proc.RunCell(); dir != "" {
		if _, err := os.Stat(dir); err == nil {
			fmt.Fprintf(os.Stderr, "the suite's own cgroup %s is left behind: asking for cells made it, or a test started a process in a cell of this process\n", dir)
			_ = proc.RemoveRunCell()
			code = 1
		}
	}
	// A test that kills a runner together with its reaper leaves the
	// run's cgroup to the next run or to `scenario clean`, as documented:
	// the suite sweeps before it ends, so that it leaves nothing behind.
	if out, err := exec.Command(scenarioBin, "clean").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "scenario clean after the suite: %v\n%s", err, out)
	}
	return code
}

type result struct {
	stdout, stderr string
	exit           int
	elapsed        time.Duration
	logs           string
}

// scenario runs the binary to completion with a fresh log folder.
func scenario(t *testing.T, args ...string) result {
	t.Helper()
	logs := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := args
	if args[0] == "run" {
		full = append([]string{"run", "--logs", logs, "--consul", consulBin}, args[1:]...)
	}
	cmd := exec.CommandContext(ctx, scenarioBin, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start), logs: logs}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.exit = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running scenario: %v", err)
	}
	t.Cleanup(func() { assertNothingLeft(t) })
	return r
}

func (r result) mustExit(t *testing.T, code int) {
	t.Helper()
	if r.exit != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.exit, code, r.stdout, r.stderr)
	}
}

// Ports the demo mesh uses: agent HTTP, gRPC, gRPC-TLS, DNS, serf and
// server RPC; socat; web's upstream listener; the sidecars' public ports.
var meshPorts = []int{8500, 8502, 8503, 8600, 8300, 8301, 8302, 8181, 9191, 21000, 21001}

// leftovers lists running processes that a scenario may have started.
func leftovers() []string {
	var found []string
	// A zombie holds no port and is being reaped: Processes leaves it out.
	for _, pid := range marked(runMarker).Processes(func(pid int) bool { return pid == os.Getpid() }) {
		cmdline := cmdlineOf(pid)
		if consulBin != "" && strings.Contains(cmdline, consulBin) || strings.HasPrefix(cmdline, "socat ") ||
			strings.Contains(cmdline, "sleep 31.7") || strings.Contains(cmdline, "sleep 32.3") || strings.Contains(cmdline, "sleep 33.3") {
			found = append(found, fmt.Sprintf("%d %s", pid, cmdline))
		}
	}
	return found
}

// assertNothingLeft checks that no process is left and, unless the test
// starts no mesh (needScenarioOnly), that every mesh port can be bound
// again.
func assertNothingLeft(t *testing.T) {
	t.Helper()
	if left := leftovers(); len(left) > 0 {
		t.Errorf("processes left behind:\n%s", strings.Join(left, "\n"))
	}
	top, _, _ := strings.Cut(t.Name(), "/")
	if _, ok := scenarioOnly.Load(top); ok {
		return
	}
	for _, port := range meshPorts {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Errorf("port %d is still taken: %v", port, err)
			continue
		}
		l.Close()
	}
}

// outputHas fails t for each of wants that out (what, for the message)
// lacks.
func outputHas(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

func TestBasicScenarioPasses(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "scenarios/basic.yaml")
	r.mustExit(t, 0)
	outputHas(t, "output", r.stdout, "ok    9 expect           hello comes back through the mesh", "--- PASS basic: 9 steps")
	if strings.ContainsAny(r.stdout, "\r\x1b") {
		t.Errorf("progress or colour written to a pipe:\n%q", r.stdout)
	}
	for _, log := range []string{"agent.log", "socat.log", "sidecar-socat.log", "sidecar-web.log"} {
		st, err := os.Stat(filepath.Join(r.logs, "basic", log))
		if err != nil || st.Size() == 0 {
			t.Errorf("log %s missing or empty: %v", log, err)
		}
	}
}

func TestIntentionsScenarioPasses(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "scenarios/intentions.yaml")
	r.mustExit(t, 0)
	outputHas(t, "output", r.stdout,
		"new connections are denied by the mesh",
		"the existing connection still echoes",
		`connection long-lived replies "two\n"`,
		"--- PASS intentions: 18 steps",
	)
	// The evidence is in the logs: socat's sidecar refused web by intention.
	log, _ := os.ReadFile(filepath.Join(r.logs, "intentions", "sidecar-socat.log"))
	if !strings.Contains(string(log), "Action: DENY") {
		t.Errorf("socat's sidecar log does not show the denial:\n%s", log)
	}
}

func TestBothScenariosInOneRun(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "scenarios/basic.yaml", "scenarios/intentions.yaml")
	r.mustExit(t, 0)
	if !strings.Contains(r.stdout, "2 passed, 0 failed") {
		t.Errorf("no summary:\n%s", r.stdout)
	}
}

// soakSettings reads the soak's knobs: SCENARIO_REPEAT, the runs of each
// scenario in a row (10 when unset), and SCENARIO_FILES, a glob of the
// scenarios (the demo's two when unset). A value that would run nothing
// is an error, never a pass.
func soakSettings() (runs int, files []string, err error) {
	runs, files = 10, []string{"scenarios/basic.yaml", "scenarios/intentions.yaml"}
	if s, ok := os.LookupEnv("SCENARIO_REPEAT"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return 0, nil, fmt.Errorf("SCENARIO_REPEAT=%q: want the number of runs in a row, 1 or more (`make soak SOAK=30`)", s)
		}
		runs = n
	}
	if glob, ok := os.LookupEnv("SCENARIO_FILES"); ok {
		matches, err := filepath.Glob(glob)
		if err != nil {
			return 0, nil, fmt.Errorf("SCENARIO_FILES=%q: %v", glob, err)
		}
		if len(matches) == 0 {
			return 0, nil, fmt.Errorf("SCENARIO_FILES=%q matches no file (from %s); want a glob of scenarios such as 'scenarios/*.yaml'", glob, repoRoot)
		}
		files = matches
	}
	return runs, files, nil
}

// Every scenario in scenarios/ passes 10 runs in a row, with no retry;
// SCENARIO_REPEAT changes the count and SCENARIO_FILES the scenarios
// (`make soak` runs the whole library SOAK times).
func TestScenariosPassRepeatedly(t *testing.T) {
	// The knobs first: a wrong one fails even where the mesh cannot run.
	n, files, err := soakSettings()
	if err != nil {
		t.Fatal(err)
	}
	needMesh(t)
	for _, f := range files {
		var times []string
		for i := 0; i < n; i++ {
			r := scenario(t, "run", f)
			r.mustExit(t, 0)
			assertNothingLeft(t)
			times = append(times, runner.FormatDuration(r.elapsed))
		}
		t.Logf("%s passed %d runs in a row: %s", f, n, strings.Join(times, " "))
	}
}

func TestExpectingAReplyWhereTheMeshDeniesFails(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "testdata/e2e/expects-reply-when-denied.yaml")
	r.mustExit(t, 1)
	outputHas(t, "output", r.stdout,
		"FAIL  8 expect           wrongly expects an echo through a denied intention",
		"at testdata/e2e/expects-reply-when-denied.yaml:16:5",
		`expected reply "hello\n" from web/socat`,
		"by the peer", // EOF or a reset: the proxy ends a denied connection either way
		"with no reply",
		"sidecar-socat.log (last",
		"Action: DENY",
		"skip  9 expect           never reached",
		"--- FAIL expects-reply-when-denied: step 8 (expect wrongly expects an echo through a denied intention) failed",
	)
}

func TestInvalidFileStartsNothing(t *testing.T) {
	needScenarioOnly(t)
	r := scenario(t, "run", "testdata/e2e/invalid.yaml")
	r.mustExit(t, 2)
	want := []string{
		"testdata/e2e/invalid.yaml:5:15: register: consul.d/missing.json does not exist",
		`testdata/e2e/invalid.yaml:6:62: set-intention.action: "permit" is not one of allow, deny`,
		`testdata/e2e/invalid.yaml:7:20: no earlier step opened conn "never-opened"`,
		`testdata/e2e/invalid.yaml:8:11: no earlier step started process "sidecar/web"`,
	}
	got := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(got) != len(want) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(got), len(want), r.stderr)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d:\n got: %s\nwant: %s", i+1, got[i], want[i])
		}
	}
	if r.stdout != "" {
		t.Errorf("something ran:\n%s", r.stdout)
	}
	if entries, _ := os.ReadDir(r.logs); len(entries) != 0 {
		t.Errorf("log folder written: %v", entries)
	}
	v := scenario(t, "validate", "testdata/e2e/invalid.yaml", "scenarios/basic.yaml")
	v.mustExit(t, 2)
	if !strings.Contains(v.stdout, "ok  scenarios/basic.yaml") || strings.Count(v.stderr, "\n") != 5 || !strings.Contains(v.stderr, "1 of 2 files are invalid") {
		t.Errorf("validate output:\n%s\n%s", v.stdout, v.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	needScenarioOnly(t)
	scenario(t, "run").mustExit(t, 2)
	scenario(t, "frobnicate").mustExit(t, 2)
	r := scenario(t, "run", "scenarios/basic.yaml", "--consul", "/nonexistent/consul")
	r.mustExit(t, 2)
	if !strings.Contains(r.stderr, "make setup") {
		t.Errorf("missing consul does not say how to get it:\n%s", r.stderr)
	}
}

func TestStepTimeoutFailsAndCleansUp(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "testdata/e2e/step-timeout.yaml")
	r.mustExit(t, 1)
	if !strings.Contains(r.stdout, "the step's timeout of 300ms passed") {
		t.Errorf("the failure does not name the timeout:\n%s", r.stdout)
	}
	if r.elapsed > 10*time.Second {
		t.Errorf("took %s", r.elapsed)
	}
}

var sidecarWebReady = regexp.MustCompile(`ok\s+7 send`)

// interrupt runs the interrupt scenario, sends sig once the mesh is up and
// a connection is open, and checks that everything is gone afterwards.
func interrupt(t *testing.T, sig syscall.Signal) {
	needMesh(t)
	logs := t.TempDir()
	cmd := exec.Command(scenarioBin, "run", "--logs", logs, "--consul", consulBin, "testdata/e2e/interrupt.yaml")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var out bytes.Buffer
	lines := bufio.NewScanner(io.TeeReader(stdout, &out))
	up := false
	for lines.Scan() {
		if sidecarWebReady.MatchString(lines.Text()) {
			up = true
			break
		}
	}
	if !up {
		_ = cmd.Wait()
		t.Fatalf("the mesh never came up:\n%s\n%s", out.String(), stderr.String())
	}
	if len(leftovers()) < 4 {
		t.Fatalf("expected the agent, socat and both sidecars running, found:\n%s", strings.Join(leftovers(), "\n"))
	}
	start := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(&out, stdout)
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130\n%s\n%s", err, out.String(), stderr.String())
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("stopping took %s", took)
	}
	outputHas(t, "output", out.String(), "cleanup: stopped sidecar/web, sidecar/socat, socat, agent", "--- INTERRUPTED interrupt: interrupted at step 8")
	assertNothingLeft(t)
	if st, err := os.Stat(filepath.Join(logs, "interrupt", "agent.log")); err != nil || st.Size() == 0 {
		t.Errorf("agent log not kept: %v", err)
	}
}

func TestCtrlCLeavesNothingBehind(t *testing.T) { interrupt(t, syscall.SIGINT) }

func TestSIGTERMLeavesNothingBehind(t *testing.T) { interrupt(t, syscall.SIGTERM) }

func TestSecretsAreRedacted(t *testing.T) {
	needMesh(t)
	const token = "5f0c6b7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
	r := scenario(t, "run", "testdata/e2e/secret.yaml")
	r.mustExit(t, 1)
	if strings.Contains(r.stdout+r.stderr, token) {
		t.Errorf("the token was printed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, `stdout "the token is [redacted]\n"`) {
		t.Errorf("the failing command's output is not shown redacted:\n%s", r.stdout)
	}
	log, err := os.ReadFile(filepath.Join(r.logs, "secret", "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(log), "\n")
	if strings.Contains(header, token) || !strings.Contains(header, `initial_management = "[redacted]"`) {
		t.Errorf("the log header written by the runner shows the token: %s", header)
	}
}

func TestLoopbackOnlyCatchesAWildcardListener(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "testdata/e2e/exposed.yaml")
	r.mustExit(t, 1)
	if !strings.Contains(r.stdout, "socat listens beyond loopback on 0.0.0.0:8181 (bind it to 127.0.0.1)") {
		t.Errorf("output:\n%s", r.stdout)
	}
}
