package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/joshdk/go-junit"

	"github.com/scenario-tool/scenario/internal/testenv"
)

func writeScenario(t *testing.T, dir, file, src string) string {
	t.Helper()
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// --logs pointed at a folder holding what scenario did not create leaves
// it intact: the run is refused before anything starts (the issue: a
// scenario named cmd run with --logs . deleted the project's cmd/).
func TestLogsNeverRemoveForeignFiles(t *testing.T) {
	needScenarioOnly(t)
	logs := t.TempDir()
	foreign := filepath.Join(logs, "cmd", "main.go")
	if err := os.MkdirAll(filepath.Dir(foreign), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(foreign, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := writeScenario(t, t.TempDir(), "cmd.yaml", "name: cmd\nsteps:\n  - exec: {command: \"true\"}\n")
	r := scenario(t, "run", "--logs", logs, file)
	r.mustExit(t, 2)
	if !strings.Contains(r.stderr, "was not created by scenario") || r.stdout != "" {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if data, err := os.ReadFile(foreign); err != nil || string(data) != "package main\n" {
		t.Fatalf("the foreign file was touched: %v %q", err, data)
	}
	// A folder of its own is replaced at the next run, and is private.
	other := t.TempDir()
	for i := 0; i < 2; i++ {
		scenario(t, "run", "--logs", other, file).mustExit(t, 0)
	}
	st, err := os.Stat(filepath.Join(other, "cmd"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("log folder: %v %v", st.Mode(), err)
	}
	log, err := os.Stat(filepath.Join(other, "cmd", "exec.log"))
	if err != nil || log.Mode().Perm() != 0o600 {
		t.Errorf("log file: %v %v", log, err)
	}
}

// Names become folders injectively: non-ASCII names, "..", "." and names
// that differ only in punctuation get folders of their own, inside --logs.
func TestLogFoldersAreOnePerName(t *testing.T) {
	needScenarioOnly(t)
	dir, logs := t.TempDir(), t.TempDir()
	names := []string{"..", ".", "é", "ë", "a/b", "a b", "a-b", "日本"}
	var files []string
	for i, n := range names {
		src := "name: " + strconvQuote(n) + "\nsteps:\n  - exec: {command: \"echo " + n + "\"}\n"
		files = append(files, writeScenario(t, dir, string(rune('a'+i))+".yaml", src))
	}
	r := scenario(t, append([]string{"run", "--logs", logs}, files...)...)
	r.mustExit(t, 0)
	entries, err := os.ReadDir(logs)
	if err != nil || len(entries) != len(names) {
		t.Fatalf("%d folders for %d names: %v %v", len(entries), len(names), entries, err)
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(logs, e.Name(), ".scenario-logs")); err != nil {
			t.Errorf("%s: not marked: %v", e.Name(), err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(logs), ".scenario-logs")); err == nil {
		t.Errorf("a log folder escaped --logs")
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Two scenarios with one name would share a log folder: refused at
// validation, before anything starts.
func TestSameNamedScenariosAreRefused(t *testing.T) {
	needScenarioOnly(t)
	dir := t.TempDir()
	a := writeScenario(t, dir, "a.yaml", "name: twin\nsteps:\n  - exec: {command: \"true\"}\n")
	b := writeScenario(t, dir, "b.yaml", "name: twin\nsteps:\n  - exec: {command: \"true\"}\n")
	for _, args := range [][]string{{"run", a, b}, {"run", "--parallel", "2", a, b}, {"validate", a, b}} {
		r := scenario(t, args...)
		r.mustExit(t, 2)
		if !strings.Contains(r.stderr, `the scenario name "twin" is also the name of `+a) || strings.Contains(r.stdout, "RUN") {
			t.Errorf("%v:\nstdout:\n%s\nstderr:\n%s", args, r.stdout, r.stderr)
		}
		if entries, _ := os.ReadDir(r.logs); len(entries) != 0 {
			t.Errorf("%v: log folders made: %v", args, entries)
		}
	}
}

// A FIFO or a device as a scenario file is refused at once, not read
// forever.
func TestNonRegularScenarioFilesAreRefused(t *testing.T) {
	needScenarioOnly(t)
	fifo := filepath.Join(t.TempDir(), "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{fifo, "/dev/zero"} {
		r := scenario(t, "validate", f)
		r.mustExit(t, 2)
		if !strings.Contains(r.stderr, f+":1:1: not a regular file") || r.elapsed > 5*time.Second {
			t.Errorf("%s (%s):\n%s", f, r.elapsed, r.stderr)
		}
	}
}

// An exec step's output is kept in memory only up to 1 MiB; the rest goes
// to its log, and the report says it was cut. 1 GB of output keeps the
// runner under 100 MB.
func TestHugeExecOutputIsBounded(t *testing.T) {
	needScenarioOnly(t)
	testenv.Long(t, "a gigabyte of output through the runner")
	file := writeScenario(t, t.TempDir(), "big.yaml", "name: big\nsteps:\n  - exec: {command: \"yes | head -c 1000000000; exit 3\"}\n")
	logs := t.TempDir()
	cmd := exec.Command(scenarioBin, "run", "--logs", logs, file)
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "(cut: 1000000000 bytes in all, the first 1048576 kept; all of it is in "+filepath.Join(logs, "big", "exec.log")) {
		t.Fatalf("exit %d:\n%s", cmd.ProcessState.ExitCode(), out)
	}
	// The peak resident set of the runner (and of any child it waited
	// for), in KiB.
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	t.Logf("1 GB of exec output: runner peak RSS %d MiB", peak>>10)
	if peak > 100<<10 {
		t.Errorf("the runner peaked at %d MiB", peak>>10)
	}
	st, err := os.Stat(filepath.Join(logs, "big", "exec.log"))
	if err != nil || st.Size() < 1000000000 {
		t.Errorf("the whole output is not in the log: %v %v", st, err)
	}
	os.RemoveAll(logs) // a gigabyte: not until the end of the suite
}

// A full disk fails the run visibly, naming the log and the process,
// instead of silently truncating the evidence. The disk is a 16 KiB tmpfs
// in a mount namespace of the test's own.
func TestFullDiskFailsTheRun(t *testing.T) {
	needScenarioOnly(t)
	testenv.Need(t, testenv.Root, testenv.Program("unshare"))
	logs, flag := t.TempDir(), filepath.Join(t.TempDir(), "written")
	// The exec step waits until chatty has written everything, so that
	// the write error happens while the run goes, whatever the timing.
	file := writeScenario(t, t.TempDir(), "full.yaml", "name: full\nsteps:\n"+
		"  - run: {name: chatty, command: \"head -c 100000 /dev/zero; touch "+flag+"; exec sleep 38.8\"}\n"+
		"  - exec: {command: \"while [ ! -e "+flag+" ]; do sleep 0.01; done\"}\n")
	cmd := exec.Command("unshare", "--mount", "sh", "-c",
		`mount -t tmpfs -o size=16k tmpfs "$1" && exec "$2" run --logs "$1" "$3"`, "sh", logs, scenarioBin, file)
	out, _ := cmd.CombinedOutput()
	text := string(out)
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(text, `process "chatty": writing its log failed, the rest of its output is lost`) ||
		!strings.Contains(text, "no space left on device") || !strings.Contains(text, "--- FAIL full") {
		t.Errorf("exit %d:\n%s", cmd.ProcessState.ExitCode(), text)
	}
	// An exec step whose output cannot be logged fails itself.
	file = writeScenario(t, t.TempDir(), "full-exec.yaml", "name: full-exec\nsteps:\n  - exec: {command: \"head -c 100000 /dev/zero\"}\n")
	cmd = exec.Command("unshare", "--mount", "sh", "-c",
		`mount -t tmpfs -o size=16k tmpfs "$1" && exec "$2" run --logs "$1" "$3"`, "sh", t.TempDir(), scenarioBin, file)
	out, _ = cmd.CombinedOutput()
	if text := string(out); cmd.ProcessState.ExitCode() != 1 || !strings.Contains(text, "FAIL  1 exec") ||
		!strings.Contains(text, "exec.log failed: write") || !strings.Contains(text, "no space left on device") {
		t.Errorf("exit %d:\n%s", cmd.ProcessState.ExitCode(), text)
	}
	assertNothingLeft(t)
}

// Every form of secret is absent from every output: the report, --json,
// JUnit, stderr and the lines the runner writes into logs.
func TestEverySecretFormIsRedacted(t *testing.T) {
	needMesh(t)
	secrets := []string{"s3c", "agent-tok-1", "recovery-tok-2", "default-tok-3", "repl-tok-4", "cfsr-tok-5",
		"dns-tok-6", "hdr-secret-7", "bearer-secret-8", "url-pass-9", "env-secret-10", "envtok-11"}
	src := `name: secrets
steps:
  - start-agent:
      args: [-hcl, 'acl { tokens { initial_management = "s3c" agent = "agent-tok-1" agent_recovery = "recovery-tok-2" default = "default-tok-3" replication = "repl-tok-4" config_file_service_registration = "cfsr-tok-5" } }']
  - name: "curl -H 'X-Consul-Token: hdr-secret-7' -H 'Authorization: Bearer bearer-secret-8' http://user:url-pass-9@127.0.0.1:8500/"
    exec: {command: "true"}
  - exec: {command: "MY_API_TOKEN=env-secret-10 sh -c 'echo $MY_API_TOKEN'"}
  - exec: {command: "echo 'tokens { dns = \"dns-tok-6\" }'; echo token $CONSUL_HTTP_TOKEN; echo env-secret-10; echo s3c; exit 3"}
`
	file := writeScenario(t, t.TempDir(), "secrets.yaml", src)
	var outputs []string
	for _, extra := range [][]string{{"--junit"}, {"--json"}} {
		logs, junitFile := t.TempDir(), filepath.Join(t.TempDir(), "junit.xml")
		args := []string{"run", "--logs", logs, "--consul", consulBin}
		if extra[0] == "--junit" {
			args = append(args, "--junit", junitFile)
		} else {
			args = append(args, "--json")
		}
		cmd := exec.Command(scenarioBin, append(args, file)...)
		cmd.Env = append(os.Environ(), "CONSUL_HTTP_TOKEN=envtok-11")
		var stdout, stderr lockedBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stdout.String(), "[redacted]") {
			t.Fatalf("exit %d:\n%s\n%s", cmd.ProcessState.ExitCode(), stdout.String(), stderr.String())
		}
		outputs = append(outputs, "stdout "+extra[0]+"\n"+stdout.String(), "stderr "+extra[0]+"\n"+stderr.String())
		if extra[0] == "--junit" {
			if _, err := junit.IngestFile(junitFile); err != nil {
				t.Error(err)
			}
			data, _ := os.ReadFile(junitFile)
			outputs = append(outputs, "junit\n"+string(data))
		}
		// The lines the runner writes into logs (the headers).
		for _, log := range []string{"agent.log", "exec.log"} {
			data, _ := os.ReadFile(filepath.Join(logs, "secrets", log))
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(line, "# scenario:") {
					outputs = append(outputs, log+" header\n"+line)
				}
			}
		}
	}
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%q printed in %s", s, out)
			}
		}
	}
	assertNothingLeft(t)
}

// Control characters in names, labels, command output and log tails are
// shown escaped: nothing printed can clear the screen, move the cursor or
// forge a report line.
func TestControlCharactersCannotForgeTheReport(t *testing.T) {
	needScenarioOnly(t)
	src := "name: \"evil\\e[2J\\r\\n--- PASS everything\"\ndescription: \"about\\n--- PASS description\"\nsteps:\n" +
		"  - name: \"label\\n--- PASS label\"\n    exec: {command: \"true\"}\n" +
		"  - run: {name: noisy, command: \"printf 'tail\\\\033[2J\\\\r\\\\n--- PASS from-log\\\\n'; exit 1\", ready: \"127.0.0.1:9\"}\n"
	file := writeScenario(t, t.TempDir(), "evil.yaml", src)
	for _, args := range [][]string{{"run", file}, {"validate", file}} {
		r := scenario(t, args...)
		out := r.stdout + r.stderr
		if strings.ContainsAny(out, "\x1b\r") {
			t.Errorf("%v: control characters printed:\n%q", args, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "--- PASS") {
				t.Errorf("%v: a forged line: %q\n%s", args, line, out)
			}
		}
		if args[0] == "run" && (r.exit != 1 || !strings.Contains(r.stdout, `--- FAIL evil\x1b[2J\r\n--- PASS everything`)) {
			t.Errorf("exit %d:\n%s", r.exit, r.stdout)
		}
	}
}

// What an exec step leaves running in the background goes when its
// command returns: the step kills its process group. The step does not
// wait for the background child either.
func TestExecLeavesNothingInTheBackground(t *testing.T) {
	needScenarioOnly(t)
	file := writeScenario(t, t.TempDir(), "bg.yaml", "name: bg\nsteps:\n  - exec: {command: \"sleep 39.9 & echo started\", stdout: \"^started\"}\n")
	r := scenario(t, "run", file)
	r.mustExit(t, 0)
	if r.elapsed > 5*time.Second {
		t.Errorf("the step waited for its background child: %s", r.elapsed)
	}
	for _, p := range liveMarked(runMarker) {
		if strings.Contains(p, "sleep 39.9") {
			t.Errorf("left running: %s", p)
		}
	}
}

// The JUnit file is written whole as each scenario ends, so a run killed
// in the middle of its second scenario leaves a valid report of the first.
func TestJUnitSurvivesAKilledRun(t *testing.T) {
	needScenarioOnly(t)
	dir := t.TempDir()
	first := writeScenario(t, dir, "a.yaml", "name: first\nsteps:\n  - exec: {command: \"true\"}\n")
	second := writeScenario(t, dir, "b.yaml", "name: second\nsteps:\n  - exec: {command: \"sleep 41.1\"}\n")
	report := filepath.Join(dir, "junit.xml")
	cmd := exec.Command(scenarioBin, "run", "--json", "--logs", t.TempDir(), "--junit", report, first, second)
	run := startRunner(t, cmd)
	run.waitLine(t, `"event":"step-start"`, `"scenario":"second"`)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	run.wait(t, 10*time.Second)
	suites, err := junit.IngestFile(report)
	if err != nil || len(suites) != 1 || suites[0].Name != "first" || suites[0].Totals.Passed != 1 {
		data, _ := os.ReadFile(report)
		t.Fatalf("%v %+v\n%s", err, suites, data)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".junit.xml.tmp*")); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

// A FIFO or a device as a service definition is refused at validation,
// which neither blocks nor reads forever.
func TestNonRegularDefinitionFilesAreRefused(t *testing.T) {
	needScenarioOnly(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "svc.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, def := range []string{fifo, "/dev/zero"} {
		file := writeScenario(t, dir, "def.yaml", "name: def\nsteps:\n  - start-agent: {}\n  - register: "+def+"\n")
		r := scenario(t, "validate", file)
		r.mustExit(t, 2)
		if !strings.Contains(r.stderr, def+" is not a regular file") || r.elapsed > 5*time.Second {
			t.Errorf("%s (%s):\n%s", def, r.elapsed, r.stderr)
		}
	}
}

// A sidecar starts beside the run step before it (steps.BesideStarting),
// so the free-port check before its proxy can come before that run's
// process binds: a run that takes the sidecar's public port still fails
// the sidecar, naming the process that holds it, never passes for the
// proxy.
func TestARunTakingASidecarsPortBesideItFailsTheSidecar(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	src := "name: impostor-beside\nsteps:\n" +
		"  - start-agent: {}\n" +
		"  - register: " + repoRoot + "/consul.d/socat.json\n" +
		"  - register: " + repoRoot + "/consul.d/web.json\n" +
		"  - run:\n      name: socat\n" +
		"      command: socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat & exec socat TCP-LISTEN:21000,bind=127.0.0.1,reuseaddr,fork EXEC:cat\n" +
		"      ready: 127.0.0.1:8181\n" +
		"  - sidecar: socat\n" +
		"  - sidecar: web\n" +
		"  - expect: {to: web/socat, send: \"hello\\n\", reply: \"hello\\n\"}\n"
	r := scenario(t, "run", writeScenario(t, dir, "impostor.yaml", src))
	r.mustExit(t, 1)
	for _, want := range []string{"FAIL  5 sidecar", "127.0.0.1:21000", "socat TCP-LISTEN:21000"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "ok    9 expect") {
		t.Errorf("the probe passed through a port an impostor held:\n%s", r.stdout)
	}
}
