package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/joshdk/go-junit"

	"github.com/scenario-tool/scenario/internal/testenv"
)

// copyScenario writes basic.yaml under another name into dir, with its
// paths made absolute.
func copyScenario(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile("scenarios/basic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "name: basic", "name: "+name, 1)
	text = strings.ReplaceAll(text, "../consul.d/", filepath.Join(repoRoot, "consul.d")+"/")
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Four scenarios that all use ports 8500, 8181, 9191, 21000 and 21001 run
// at once, each in its own network namespace, and all pass.
func TestParallelRunsIsolateScenarios(t *testing.T) {
	needMesh(t, namespaces)
	dir := t.TempDir()
	files := []string{"scenarios/basic.yaml", "scenarios/intentions.yaml", copyScenario(t, dir, "basic-2"), copyScenario(t, dir, "basic-3")}
	// Something on the host's 8500 must not disturb namespaced runs.
	l, err := net.Listen("tcp", "127.0.0.1:8500")
	if err != nil {
		t.Fatal(err)
	}
	r := scenario(t, append([]string{"run", "--parallel", "4"}, files...)...)
	l.Close()
	r.mustExit(t, 0)
	if !strings.Contains(r.stdout, "4 passed, 0 failed") {
		t.Errorf("output:\n%s", r.stdout)
	}
	// Each scenario's report is in one piece, not interleaved.
	for _, name := range []string{"basic", "intentions", "basic-2", "basic-3"} {
		start := strings.Index(r.stdout, "=== RUN "+name+" ")
		end := strings.Index(r.stdout, "--- PASS "+name+":")
		if start < 0 || end < start || strings.Contains(r.stdout[start+1:end], "=== RUN") {
			t.Errorf("report of %s is missing or interleaved:\n%s", name, r.stdout)
		}
	}
	t.Logf("4 scenarios with the same ports, --parallel 4: %s", r.elapsed)
}

func TestShardsAreDisjointAndComplete(t *testing.T) {
	needMesh(t)
	// Four quick scenarios, not the whole library: the shards' split is
	// what is under test.
	dir := t.TempDir()
	want := map[string]bool{}
	for _, name := range []string{"basic", "intentions", "delete-restores-default", "prepared-query-upstream"} {
		raw, err := os.ReadFile("scenarios/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		src := strings.ReplaceAll(string(raw), "../consul.d/", repoRoot+"/consul.d/")
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		want[name+":"] = true
	}
	seen := map[string]int{}
	for i := 1; i <= 2; i++ {
		r := scenario(t, "run", "--shard", fmt.Sprintf("%d/2", i), dir)
		r.mustExit(t, 0)
		ran := 0
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(line, "--- PASS ") {
				seen[strings.Fields(line)[2]]++
				ran++
			}
		}
		if ran == 0 {
			t.Errorf("shard %d/2 ran nothing", i)
		}
	}
	for name := range want {
		if seen[name] != 1 {
			t.Errorf("shards ran %v; want each of %v once", seen, want)
			break
		}
	}
	if len(seen) != len(want) {
		t.Errorf("shards ran %v; want each of %v once", seen, want)
	}
	r := scenario(t, "run", "--shard", "3/2", "scenarios")
	r.mustExit(t, 2)
}

func TestListForHumansAndCI(t *testing.T) {
	needScenarioOnly(t)
	r := scenario(t, "list", "--json")
	r.mustExit(t, 0)
	var list []struct {
		Name, File, Description string
		Steps                   int
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	files, _ := filepath.Glob("scenarios/*.yaml")
	byName := map[string]int{}
	for i, sc := range list {
		byName[sc.Name] = i
		if sc.Description == "" {
			t.Errorf("%s has no description: every library scenario states its fact", sc.File)
		}
	}
	basic, ok := byName["basic"]
	if len(list) != len(files) || !ok || list[basic].File != "scenarios/basic.yaml" || list[basic].Steps != 9 {
		t.Errorf("list: %+v", list)
	}
	text := scenario(t, "list", "scenarios")
	text.mustExit(t, 0)
	if !strings.HasPrefix(text.stdout, "NAME") || !regexp.MustCompile(`(?m)^intentions +scenarios/intentions.yaml +18 `).MatchString(text.stdout) {
		t.Errorf("list:\n%s", text.stdout)
	}
}

func TestValidateWarnsAboutSuspiciousScenarios(t *testing.T) {
	needScenarioOnly(t)
	src := "name: suspicious\nsteps:\n  - start-agent: {}\n  - register: " + repoRoot + "/consul.d/socat.json\n" +
		"  - run: {name: socat, command: 'socat -v tcp-l:8181,fork exec:\"/bin/cat\"'}\n" +
		"  - set-intention: {source: web, destination: socat, action: deny}\n" +
		"  - expect: {intention: {source: web, destination: socat}, allowed: false}\n" +
		"  - register: " + repoRoot + "/consul.d/web.json\n  - sidecar: web\n" +
		"  - expect: {to: web/socat, send: \"x\\n\", denied: true}\n"
	file := writeScenario(t, t.TempDir(), "suspicious.yaml", src)
	r := scenario(t, "validate", file)
	r.mustExit(t, 0)
	for _, want := range []string{
		file + ":5:33: warning: run.command is a socat listener without bind=, which listens on every address",
		file + ":10:13: warning: expect after an intention change has no within",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// The intention check reads the servers, which have the write: no
	// within needed (scenariofile.TestAnIntentionCheckAfterAWriteWarnsOnlyWhereItMayLag).
	if strings.Contains(r.stderr, file+":7:13: warning") {
		t.Errorf("the intention check right after the write draws a warning:\n%s", r.stderr)
	}
	clean := scenario(t, "validate", "scenarios")
	clean.mustExit(t, 0)
	// Four library scenarios exist to show what the built-in proxy ignores:
	// their warnings are the point. Nothing else may warn.
	for _, line := range strings.Split(strings.TrimSpace(clean.stderr), "\n") {
		shows := strings.HasPrefix(line, "scenarios/l7-intentions-deny.yaml:") || strings.HasPrefix(line, "scenarios/resolver-ignored.yaml:") ||
			strings.HasPrefix(line, "scenarios/connect-timeout-ignored.yaml:") || strings.HasPrefix(line, "scenarios/handshake-timeout-ignored.yaml:")
		if line != "" && !(shows && strings.Contains(line, "the built-in proxy")) {
			t.Errorf("the project's own scenarios draw a warning: %s", line)
		}
	}
}

// up brings the mesh up, keeps it (the UI answers, traffic flows) until
// Ctrl-C, then cleans up and exits 130, as its help says.
func TestUpKeepsTheMeshUntilCtrlC(t *testing.T) {
	needMesh(t)
	logs := t.TempDir()
	cmd := exec.Command(scenarioBin, "up", "--logs", logs, "--consul", consulBin, "scenarios/basic.yaml")
	stdout, lines := startUntil(t, cmd, "everything is up; Consul UI at http://127.0.0.1:8500/ui/", "never came up")
	// A command beside a mesh on the host: scenario exec host.
	if out, code := execIn(t, "--logs", logs, "host", "--", "sh", "-c", `echo "$CONSUL_HTTP_ADDR"; consul catalog services`); code != 0 ||
		!strings.HasPrefix(out, "127.0.0.1:8500\n") || !strings.Contains(out, "socat-sidecar-proxy") {
		t.Errorf("exec host: exit %d:\n%s", code, out)
	}
	resp, err := http.Get("http://127.0.0.1:8500/ui/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("UI: %v %v", resp, err)
	}
	resp.Body.Close()
	c, err := net.Dial("tcp", "127.0.0.1:9191")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "still up\n")
	got, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if got != "still up\n" {
		t.Errorf("echo through the mesh while up: %q", got)
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() { // drain stderr so that up never blocks writing it
		for lines.Scan() {
		}
	}()
	if err := cmd.Wait(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 130 {
		t.Fatalf("up ended with %v, want exit status 130:\n%s", err, stdout.String())
	}
	if !strings.Contains(stdout.String(), "--- PASS basic") {
		t.Errorf("output:\n%s", stdout.String())
	}
	assertNothingLeft(t)
}

// The JUnit report is read back with a JUnit parser: one suite per
// scenario, one case per step, the failure with its message and logs.
func TestJUnitReport(t *testing.T) {
	needMesh(t)
	report := filepath.Join(t.TempDir(), "junit.xml")
	r := scenario(t, "run", "--junit", report, "scenarios/basic.yaml", "testdata/e2e/expects-reply-when-denied.yaml")
	r.mustExit(t, 1)
	suites, err := junit.IngestFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 2 || suites[0].Name != "basic" || len(suites[0].Tests) != 9 || suites[0].Totals.Failed != 0 {
		t.Fatalf("suites: %+v", suites)
	}
	denied := suites[1]
	if denied.Totals.Failed != 1 || denied.Totals.Skipped != 1 || denied.Totals.Passed != 7 {
		t.Errorf("totals of %s: %+v", denied.Name, denied.Totals)
	}
	failing := denied.Tests[7]
	if failing.Status != junit.StatusFailed || !strings.Contains(failing.Name, "wrongly expects an echo") ||
		!strings.Contains(failing.Error.Error(), `expected reply "hello\n" from web/socat`) ||
		!strings.Contains(failing.SystemOut, "sidecar-socat.log (last") || !strings.Contains(failing.SystemOut, "Action: DENY") {
		t.Errorf("failing case: %+v", failing)
	}
}

// --json prints one event per line: what a machine needs to follow a run.
func TestJSONEvents(t *testing.T) {
	needMesh(t)
	r := scenario(t, "run", "--json", "scenarios/basic.yaml")
	r.mustExit(t, 0)
	starts, ends, processes := map[int]int{}, []int{}, map[string]int{}
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var e struct {
			Event, Scenario, Outcome string
			Step                     *struct {
				Index      int
				Outcome    string
				DurationMS float64 `json:"duration_ms"`
			}
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if e.Scenario != "basic" {
			t.Errorf("event without its scenario: %s", line)
		}
		switch e.Event {
		case "process-start", "process-end":
			// The timeline's: each process's lifetime, by pid.
			if !strings.Contains(line, `"pid":`) {
				t.Errorf("%s without its process: %s", e.Event, line)
			}
			processes[e.Event]++
			continue
		case "step-start":
			starts[e.Step.Index]++
			continue
		case "step-end":
			if e.Step.Outcome != "passed" || e.Step.DurationMS <= 0 || starts[e.Step.Index] != 1 {
				t.Errorf("step-end: %s", line)
			}
			ends = append(ends, e.Step.Index)
			continue
		}
		kinds = append(kinds, e.Event)
	}
	if got := strings.Join(kinds, " "); got != "scenario-start cleanup scenario-end" {
		t.Errorf("events: %s", got)
	}
	if processes["process-start"] != 4 || processes["process-end"] != 4 {
		t.Errorf("process events: %v, want the agent, socat and two sidecars starting and ending", processes)
	}
	// Steps may start before earlier ones are ready (sidecars overlap),
	// but every step ends once, in order.
	if fmt.Sprint(ends) != "[1 2 3 4 5 6 7 8 9]" {
		t.Errorf("step-end order: %v", ends)
	}
}

// The committed pictures (basic.yaml's, and two-datacenters.yaml's for
// the topologies) are current: their DOT text is what `graph` prints now
// (text, not the SVG bytes of one Graphviz version), and the committed SVG
// draws every node and edge of that DOT, as does what `graph --svg`
// renders with the dot installed here.
func TestGraphPicture(t *testing.T) {
	needScenarioOnly(t)
	for scenarioFile, base := range map[string]string{"scenarios/basic.yaml": "docs/network", "scenarios/two-datacenters.yaml": "docs/two-datacenters"} {
		t.Run(base, func(t *testing.T) { checkPicture(t, scenarioFile, base) })
	}
}

func checkPicture(t *testing.T, scenarioFile, base string) {
	redo := fmt.Sprintf("run `bin/scenario graph %s > %s.dot; bin/scenario graph --svg %s > %s.svg`", scenarioFile, base, scenarioFile, base)
	r := scenario(t, "graph", scenarioFile)
	r.mustExit(t, 0)
	committed, err := os.ReadFile(base + ".dot")
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(committed) {
		t.Fatalf("%s.dot is stale: %s", base, redo)
	}
	// Graphviz titles each node by its ID and each edge "tail->head",
	// escaping - and > as entities.
	var titles []string
	for _, m := range regexp.MustCompile(`(?m)^\s*"([^"]+)"(?: -> "([^"]+)")? \[`).FindAllStringSubmatch(r.stdout, -1) {
		title := m[1]
		if m[2] != "" {
			title += "->" + m[2]
		}
		titles = append(titles, "<title>"+strings.NewReplacer("-", "&#45;", ">", "&gt;").Replace(title)+"</title>")
	}
	if len(titles) < 5 {
		t.Fatalf("found %d nodes and edges in the DOT:\n%s", len(titles), r.stdout)
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	drawsAll := func(name, picture string) {
		for _, title := range titles {
			if !strings.Contains(picture, title) {
				t.Errorf("%s lacks %s; %s", name, title, redo)
			}
		}
	}
	drawsAll(base+".svg", string(svg))
	t.Run("rendered", func(t *testing.T) {
		testenv.Need(t, testenv.Program("dot"))
		rendered := scenario(t, "graph", "--svg", scenarioFile)
		rendered.mustExit(t, 0)
		drawsAll("graph --svg", rendered.stdout)
	})
}

// The bench's floor, the hand-driven flow the runner is measured against,
// keeps working.
func TestBenchFloorRuns(t *testing.T) {
	needMesh(t)
	bin := filepath.Join(t.TempDir(), "bench")
	if out, err := exec.Command("go", "build", "-o", bin, "./bench").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, flow := range []string{"basic", "intentions", "intentions-settled"} {
		cmd := exec.Command(bin, "floor", flow)
		cmd.Env = append(os.Environ(), "CONSUL="+consulBin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", flow, err)
		}
		var r struct {
			Error   string
			TotalMS float64 `json:"total_ms"`
		}
		if err := json.Unmarshal(out, &r); err != nil || r.Error != "" || r.TotalMS <= 0 {
			t.Errorf("%s: %s (%v)", flow, out, err)
		}
		assertNothingLeft(t)
	}
}

// Without the right to make network namespaces (not root), --parallel says
// so and runs the scenarios one by one, and they still pass.
func TestParallelFallsBackWithoutNamespaces(t *testing.T) {
	needMesh(t, testenv.Root, testenv.Program("setpriv"))
	dir, err := os.MkdirTemp("", "unprivileged")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "scenario")
	data, err := os.ReadFile(scenarioBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, logs} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		bin, "run", "--parallel", "2", "--logs", logs, "--consul", consulBin,
		filepath.Join(repoRoot, "scenarios/basic.yaml"), filepath.Join(repoRoot, "scenarios/intentions.yaml"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "network namespaces are not permitted here") ||
		!strings.Contains(stderr.String(), "running the 2 scenarios one by one") ||
		!strings.Contains(stdout.String(), "2 passed, 0 failed") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	assertNothingLeft(t)
}

// On a terminal the report is coloured and shows the waiting step live;
// `script` gives the run a pseudo-terminal.
func TestTerminalGetsColourAndProgress(t *testing.T) {
	needMesh(t, testenv.Program("script"))
	logs := t.TempDir()
	cmd := exec.Command("script", "-qefc", fmt.Sprintf("%s run --logs %s --consul %s scenarios/basic.yaml", scenarioBin, logs, consulBin), "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm", "NO_COLOR=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "\x1b[32mok  \x1b[0m") {
		t.Errorf("no colour on a terminal:\n%q", text)
	}
	if !strings.Contains(text, "\r\x1b[K") {
		t.Errorf("no live progress on a terminal:\n%q", text)
	}
	cmd = exec.Command("script", "-qefc", fmt.Sprintf("%s run --logs %s --consul %s scenarios/basic.yaml", scenarioBin, logs, consulBin), "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm", "NO_COLOR=1")
	out, _ = cmd.CombinedOutput()
	if strings.Contains(string(out), "\x1b[32m") {
		t.Errorf("NO_COLOR is not honoured:\n%q", out)
	}
	assertNothingLeft(t)
}

// startUntil starts cmd (`scenario up`, say) and reads its stderr until a
// line holds want, failing with failure and its stdout if it never does.
// It returns the stdout so far and the rest of stderr, and kills cmd when
// the test ends.
func startUntil(t *testing.T, cmd *exec.Cmd, want, failure string) (*bytes.Buffer, *bufio.Scanner) {
	t.Helper()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if strings.Contains(lines.Text(), want) {
			return &stdout, lines
		}
	}
	cmd.Wait()
	t.Fatalf("%s:\n%s", failure, stdout.String())
	return nil, nil
}

// run --run prints the warnings of the scenarios it selected, not of every
// file it read: the others do not run.
func TestRunWarnsOnlyAboutTheScenariosItRuns(t *testing.T) {
	needScenarioOnly(t)
	dir := t.TempDir()
	writeScenario(t, dir, "quiet.yaml", "name: quiet\nsteps:\n  - exec: {command: \"true\"}\n")
	noisy := writeScenario(t, dir, "noisy.yaml", "name: noisy\nsteps:\n"+
		"  - run: {name: echo, command: \"socat TCP-LISTEN:7392,reuseaddr,fork EXEC:cat\", ready: 127.0.0.1:7392}\n")
	// By the scenario's name, and by a step's: noisy's name matches, but
	// no step of it does.
	for _, pattern := range []string{"quiet", "./exec"} {
		r := scenario(t, "run", "--run", pattern, dir)
		r.mustExit(t, 0)
		if strings.Contains(r.stderr, "warning:") || !strings.Contains(r.stdout, "--- PASS quiet") || strings.Contains(r.stdout, "noisy") {
			t.Errorf("run --run %s warned about what it did not run:\n%s%s", pattern, r.stdout, r.stderr)
		}
	}
	// The warning is there for a run of noisy.
	if v := scenario(t, "validate", noisy); !strings.Contains(v.stderr, noisy+":3:32:") || !strings.Contains(v.stderr, "warning: run.command is a socat listener without bind=") {
		t.Errorf("noisy.yaml draws no warning:\n%s", v.stderr)
	}
}

// A report file that cannot be written fails the run, even when every
// scenario passed: a CI that reads the report must not take its absence
// for a pass. Both errors are said when both reports fail.
func TestAReportThatCannotBeWrittenFailsTheRun(t *testing.T) {
	needScenarioOnly(t)
	file := writeScenario(t, t.TempDir(), "ok.yaml", "name: ok\nsteps:\n  - exec: {command: \"true\"}\n")
	missing := filepath.Join(t.TempDir(), "gone", "folder")
	r := scenario(t, "run", "--html", filepath.Join(missing, "r.html"), "--junit", filepath.Join(t.TempDir(), "j.xml"), file)
	r.mustExit(t, 1)
	if !strings.Contains(r.stdout, "--- PASS ok") || !strings.Contains(r.stderr, "--html: open "+missing) {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
