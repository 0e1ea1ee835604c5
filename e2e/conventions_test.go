package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/runner"
)

// writeScenarios writes scenario files made of exec steps only (no mesh:
// these tests are about the CLI), one per name, and returns their paths.
func writeScenarios(t *testing.T, steps string, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n+".yaml")
		if err := os.WriteFile(p, []byte("name: "+n+"\nsteps:\n"+steps), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// --format test2json is read by gotestsum (pinned in tools/dev) as go
// test -json would be: scenarios as tests, steps as subtests, failures
// and skips counted, the failing step's evidence shown.
func TestTest2JSONReadByGotestsum(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "--format", "test2json", "scenarios/basic.yaml", "testdata/e2e/expects-reply-when-denied.yaml")
	r.mustExit(t, 1)
	lines := bufio.NewScanner(strings.NewReader(r.stdout))
	n := 0
	for lines.Scan() {
		var e runner.TestEvent
		dec := json.NewDecoder(strings.NewReader(lines.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Action == "" || e.Package == "" || e.Time == nil {
			t.Fatalf("not a test2json event (%v): %s", err, lines.Text())
		}
		n++
	}
	if n < 40 {
		t.Fatalf("%d events:\n%s", n, r.stdout)
	}
	events := filepath.Join(t.TempDir(), "events.json")
	if err := os.WriteFile(events, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	gotestsum := filepath.Join(t.TempDir(), "gotestsum")
	if out, err := exec.Command("go", "build", "-C", "tools/dev", "-o", gotestsum, "gotest.tools/gotestsum").CombinedOutput(); err != nil {
		t.Fatalf("building gotestsum from tools/dev: %v\n%s", err, out)
	}
	out, err := exec.Command(gotestsum, "--format", "testname", "--no-color", "--raw-command", "--", "cat", events).CombinedOutput()
	if err != nil {
		t.Fatalf("gotestsum: %v\n%s", err, out)
	}
	for _, want := range []string{
		"PASS scenarios.basic/09_expect_hello_comes_back_through_the_mesh",
		"PASS scenarios.basic (",
		"FAIL testdata/e2e.expects-reply-when-denied/08_expect_wrongly_expects_an_echo_through_a_denied_intention",
		"SKIP testdata/e2e.expects-reply-when-denied/09_expect_never_reached",
		"at testdata/e2e/expects-reply-when-denied.yaml:16:5",
		"Matched L4 intention: default/web => default/socat",
		"DONE 20 tests, 1 skipped, 2 failures",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("gotestsum's report lacks %q:\n%s", want, out)
		}
	}
}

// gotestsum running `scenario run --format test2json` itself counts an
// invalid file as a failing test and a scenario's warnings as its output,
// not as errors: nothing lands on stderr but the invalid file's problems.
func TestTest2JSONInvalidFilesAndWarningsReadByGotestsum(t *testing.T) {
	testenv.Need(t, testenv.Program("socat"))
	warned := writeScenarios(t, "  - run: {name: echo, command: \"socat TCP-LISTEN:8181,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:8181\"}\n", "warned")[0]
	gotestsum := filepath.Join(t.TempDir(), "gotestsum")
	if out, err := exec.Command("go", "build", "-C", "tools/dev", "-o", gotestsum, "gotest.tools/gotestsum").CombinedOutput(); err != nil {
		t.Fatalf("building gotestsum from tools/dev: %v\n%s", err, out)
	}
	cmd := exec.Command(gotestsum, "--format", "testname", "--no-color", "--raw-command", "--",
		scenarioBin, "run", "--format", "test2json", "--skip-invalid", "--logs", t.TempDir(), warned, "testdata/invalid/misspelled-key.yaml")
	out, _ := cmd.CombinedOutput()
	for _, want := range []string{
		".warned/01_run_echo",
		"FAIL testdata/invalid.misspelled-key",
		// The errors: the invalid file's problem and the count of
		// skipped files, on stderr as ever; the warning is not one.
		"DONE 3 tests, 1 failure, 2 errors",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("gotestsum's report lacks %q:\n%s", want, out)
		}
	}
	if _, errs, _ := strings.Cut(string(out), "=== Errors"); strings.Contains(errs, "warning") {
		t.Errorf("gotestsum counts the warning as an error:\n%s", out)
	}
	r := scenario(t, "run", "--format", "test2json", warned)
	r.mustExit(t, 0)
	if strings.Contains(r.stderr, "warning") || !strings.Contains(r.stdout, `"Test":"warned","Output":"    `+warned+`:3:`) {
		t.Errorf("the warning is not output of its test:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// --run SCENARIO/STEP and --count: the scenarios selected, each cut after
// its last matching step, run once per round.
func TestRunSelectionAndCount(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "--count", "2", "--run", "basic/sidecar_web", "scenarios/basic.yaml", "scenarios/intentions.yaml")
	r.mustExit(t, 0)
	if got := strings.Count(r.stdout, "--- PASS basic: 6 steps"); got != 2 {
		t.Errorf("basic passed %d times with 6 steps, want 2:\n%s", got, r.stdout)
	}
	if strings.Contains(r.stdout, "=== RUN intentions") || strings.Contains(r.stdout, " 7 expect") {
		t.Errorf("ran what --run excludes:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "2 passed, 0 failed\n") || !strings.Contains(r.stderr, "basic stops after step 6 of 9 (06_sidecar_web)") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	r = scenario(t, "run", "--run", "nosuch", "scenarios/basic.yaml")
	r.mustExit(t, 2)
	if !strings.Contains(r.stderr, `--run "nosuch" matches no scenario (scenarios: basic)`) {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// --fail-fast starts nothing after a failure; the skipped runs are
// counted in the closing line.
func TestFailFast(t *testing.T) {
	needScenarioOnly(t)
	files := writeScenarios(t, "  - exec: {command: \"exit 3\"}\n", "first-fails", "second")
	r := scenario(t, "run", "--fail-fast", files[0], files[1])
	r.mustExit(t, 1)
	if strings.Contains(r.stdout, "=== RUN second") || !strings.Contains(r.stdout, "0 passed, 1 failed, 1 skipped\n") ||
		!strings.Contains(r.stderr, "1 scenario runs did not start (--fail-fast)") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	r = scenario(t, "run", files[0], files[1])
	r.mustExit(t, 1)
	if !strings.Contains(r.stdout, "0 passed, 2 failed\n") {
		t.Errorf("without --fail-fast:\n%s", r.stdout)
	}
}

// --timeout bounds the whole run: the scenario running fails naming it,
// no further one starts, one by one and with --parallel alike.
func TestWholeRunTimeout(t *testing.T) {
	needScenarioOnly(t)
	files := writeScenarios(t, "  - exec: {command: \"sleep 32.3\"}\n", "slow-a", "slow-b", "slow-c")
	r := scenario(t, "run", "--timeout", "1s", files[0], files[1])
	r.mustExit(t, 1)
	if !strings.Contains(r.stdout, "the run's --timeout of 1s passed") || strings.Contains(r.stdout, "=== RUN slow-b") ||
		!strings.Contains(r.stdout, "0 passed, 1 failed, 1 skipped\n") || r.elapsed > 15*time.Second {
		t.Errorf("after %s:\nstdout:\n%s\nstderr:\n%s", r.elapsed, r.stdout, r.stderr)
	}
	t.Run("parallel", func(t *testing.T) {
		testenv.Need(t, namespaces) // else --parallel runs them one by one
		r := scenario(t, append([]string{"run", "--parallel", "2", "--timeout", "2s"}, files...)...)
		r.mustExit(t, 1)
		if strings.Count(r.stdout, "the run's --timeout passed") != 2 || !strings.Contains(r.stdout, "0 passed, 2 failed, 1 skipped\n") || r.elapsed > 20*time.Second {
			t.Errorf("--parallel 2, after %s:\nstdout:\n%s\nstderr:\n%s", r.elapsed, r.stdout, r.stderr)
		}
	})
}

// FORCE_COLOR colours a report that goes to a pipe (a CI log) without the
// live progress of a terminal; NO_COLOR and --no-color still win.
func TestForceColor(t *testing.T) {
	needScenarioOnly(t)
	files := writeScenarios(t, "  - exec: {command: \"true\"}\n", "quick")
	for _, c := range []struct {
		env   []string
		flags []string
		color bool
	}{
		{env: []string{"FORCE_COLOR=1", "NO_COLOR="}, color: true},
		{env: []string{"FORCE_COLOR=", "NO_COLOR="}, color: false},
		{env: []string{"FORCE_COLOR=1", "NO_COLOR=1"}, color: false},
		{env: []string{"FORCE_COLOR=1", "NO_COLOR="}, flags: []string{"--no-color"}, color: false},
	} {
		args := append([]string{"run", "--logs", t.TempDir()}, c.flags...)
		cmd := exec.Command(scenarioBin, append(args, files[0])...)
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v\n%s", c.env, err, out)
		}
		if got := strings.Contains(string(out), "\x1b[32mok  \x1b[0m"); got != c.color {
			t.Errorf("%v %v: coloured %v, want %v:\n%q", c.env, c.flags, got, c.color, out)
		}
		if strings.Contains(string(out), "\r") {
			t.Errorf("%v: live progress off a terminal:\n%q", c.env, out)
		}
	}
}

// version names the consul binary a run would use and its version, as
// that binary says it.
func TestVersionAsksConsul(t *testing.T) {
	testenv.Need(t, consul)
	out, err := exec.Command(consulBin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	r := scenario(t, "version", "--consul", consulBin)
	r.mustExit(t, 0)
	if !strings.Contains(r.stdout, "consul: "+first+" ("+consulBin+")") {
		t.Errorf("%q lacks %q", r.stdout, first)
	}
}
