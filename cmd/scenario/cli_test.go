package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/runner"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every command answers -h, --help and `help NAME` with its own help on
// stdout and exit 0, listing its public flags and never a hidden one.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		var helps []string
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			code, stdout, stderr := runCLI(args...)
			if code != exitPassed || stderr != "" {
				t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
			}
			if !strings.HasPrefix(stdout, "Usage: scenario "+c.name+" ") {
				t.Errorf("%q: %q", args, stdout)
			}
			for hidden := range hiddenFlags {
				if strings.Contains(stdout, "--"+hidden) {
					t.Errorf("%q shows the hidden flag --%s:\n%s", args, hidden, stdout)
				}
			}
			for _, f := range publicFlags(c) {
				if !strings.Contains(stdout, "  "+dashed(f.Name)+" ") && !strings.Contains(stdout, "  "+dashed(f.Name)+"\n") {
					t.Errorf("%q does not list --%s:\n%s", args, f.Name, stdout)
				}
			}
			helps = append(helps, stdout)
		}
		if helps[0] != helps[1] || helps[1] != helps[2] {
			t.Errorf("%s: -h, --help and help %s differ", c.name, c.name)
		}
	}
	// run has hidden flags to hide.
	run, _ := findCommand("run")
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	run.flags(fs)
	if fs.Lookup("in-netns") == nil || fs.Lookup("deadline") == nil {
		t.Error("run lost its internal flags; the check above proves nothing")
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, stdout, _ := runCLI(args...)
		if code != exitPassed || !strings.Contains(stdout, "Exit status") || !strings.Contains(stdout, "scenario completion") {
			t.Errorf("%q: exit %d, %q", args, code, stdout)
		}
	}
}

// Anything a command does not take is an error (exit 2) that says so.
func TestUnknownArgumentsAreErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nosuch"}, {"--nosuch"}, {"schema", "extra"}, {"steps", "extra"}, {"steps", "--bogus"},
		{"version", "extra"}, {"version", "--bogus"}, {"help", "nosuch"}, {"help", "run", "up"},
		{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"},
		{"run", "--bogus", "f.yaml"}, {"run"}, {"up", "a.yaml", "b.yaml"}, {"up", "--parallel", "2", "a.yaml"},
		{"list", "--bogus"}, {"validate"}, {"validate", "--markdown", "f"}, {"graph", "a", "b"}, {"graph", "--json", "a"},
		{"run", "--count", "0", "f.yaml"}, {"run", "--format", "xml", "f.yaml"}, {"run", "--json", "--format", "test2json", "f.yaml"},
		{"run", "--timeout", "-1s", "f.yaml"}, {"run", "--run", "(", "f.yaml"}, {"run", "--run", "a/(", "f.yaml"},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != exitInvalid || strings.TrimSpace(stderr) == "" || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// --version and version print the build's version and the first line of
// `consul version` of the consul binary a run would use.
func TestVersion(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "consul")
	script := "#!/bin/sh\n[ \"$1\" = version ] || exit 3\necho 'Consul v9.8.7-test'\necho 'Revision 0123'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSUL", fake)
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		code, stdout, stderr := runCLI(args...)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if code != exitPassed || stderr != "" || len(lines) != 2 {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		if !strings.HasPrefix(lines[0], "scenario ") || !strings.Contains(lines[0], runtime.Version()) {
			t.Errorf("%q: the build line is %q", args, lines[0])
		}
		if lines[1] != "consul: Consul v9.8.7-test ("+fake+")" {
			t.Errorf("%q: the consul line is %q", args, lines[1])
		}
	}
	other := filepath.Join(t.TempDir(), "consul")
	if err := os.WriteFile(other, []byte("#!/bin/sh\necho 'Consul v1.2.3'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, stdout, _ := runCLI("version", "--consul", other); !strings.Contains(stdout, "consul: Consul v1.2.3 ("+other+")") {
		t.Errorf("--consul is not asked: %q", stdout)
	}
	broken := filepath.Join(t.TempDir(), "consul")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho oops; exit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, stdout, _ := runCLI("version", "--consul", broken); !strings.Contains(stdout, "`consul version` failed") {
		t.Errorf("a failing consul is not named: %q", stdout)
	}
}

// writeSuspicious writes a valid scenario that draws a warning: a socat
// listener on every address.
func writeSuspicious(t *testing.T) string {
	t.Helper()
	suspicious := filepath.Join(t.TempDir(), "suspicious.yaml")
	src := "name: sus\nsteps:\n  - run: {name: socat, command: \"socat TCP-LISTEN:8181,fork EXEC:cat\", ready: \"127.0.0.1:8181\"}\n"
	if err := os.WriteFile(suspicious, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return suspicious
}

// validate --json: one object per file, one per line (JSON Lines), in
// the order given, valid ones with their warnings, invalid ones with
// every problem at file:line:col.
func TestValidateJSON(t *testing.T) {
	suspicious := writeSuspicious(t)
	invalid := "../../testdata/invalid/misspelled-key.yaml"
	code, stdout, stderr := runCLI("validate", "--json", "../../scenarios/basic.yaml", invalid, suspicious)
	if code != exitInvalid {
		t.Errorf("exit %d, want 2", code)
	}
	// The problems are on stdout only; stderr says how many files failed.
	if stderr != "1 of 3 files are invalid\n" {
		t.Errorf("stderr, want only the summary:\n%s", stderr)
	}
	var got []validated
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var v validated
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil || dec.More() {
			t.Fatalf("%v: not one object on the line %s", err, line)
		}
		got = append(got, v)
	}
	if len(got) != 3 {
		t.Fatalf("%d entries: %+v", len(got), got)
	}
	if g := got[0]; g.File != "../../scenarios/basic.yaml" || !g.Valid || g.Name != "basic" || g.Steps != 9 || len(g.Errors) != 0 {
		t.Errorf("basic: %+v", g)
	}
	if g := got[1]; g.File != invalid || g.Valid || len(g.Errors) == 0 || !strings.HasPrefix(g.Errors[0], invalid+":") {
		t.Errorf("invalid: %+v", g)
	}
	if g := got[2]; !g.Valid || len(g.Warnings) == 0 || !strings.Contains(g.Warnings[0], "every address") {
		t.Errorf("suspicious: %+v", g)
	}
	code, stdout, _ = runCLI("validate", "--json", "../../scenarios/basic.yaml")
	if code != exitPassed || stdout != `{"file":"../../scenarios/basic.yaml","name":"basic","steps":9,"valid":true}`+"\n" {
		t.Errorf("exit %d: %s", code, stdout)
	}
}

// Colour: --no-color and NO_COLOR always win; FORCE_COLOR colours a CI
// log; otherwise a terminal that is not dumb gets colour.
func TestUseColor(t *testing.T) {
	for _, c := range []struct {
		noColor, force, term string
		flag, tty, want      bool
	}{
		{tty: true, term: "xterm", want: true},
		{tty: false, term: "xterm", want: false},
		{tty: true, term: "dumb", want: false},
		{force: "1", tty: false, want: true},
		{force: "true", tty: false, term: "dumb", want: true},
		{force: "0", tty: false, want: false},
		{force: "1", noColor: "1", want: false},
		{force: "1", flag: true, want: false},
		{noColor: "1", tty: true, term: "xterm", want: false},
	} {
		t.Setenv("NO_COLOR", c.noColor)
		t.Setenv("FORCE_COLOR", c.force)
		t.Setenv("TERM", c.term)
		if got := useColor(c.flag, c.tty); got != c.want {
			t.Errorf("%+v: useColor = %v", c, got)
		}
	}
}

// /dev/null is a character device but no terminal; a pseudo-terminal is.
func TestIsTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Error("/dev/null taken for a terminal")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal to test with: %v", err)
	}
	defer ptmx.Close()
	if !isTerminal(ptmx) {
		t.Error("a pseudo-terminal not taken for a terminal")
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer taken for a terminal")
	}
}

// The completion scripts offer no hidden flag, parse in their shells and
// complete commands, flags, --format's values and scenario files.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	scripts := map[string]string{}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, stdout, stderr := runCLI("completion", shell)
		if code != exitPassed || stderr != "" {
			t.Fatalf("completion %s: exit %d, %s", shell, code, stderr)
		}
		for hidden := range hiddenFlags {
			if strings.Contains(stdout, hidden) {
				t.Errorf("the %s script offers the hidden --%s", shell, hidden)
			}
		}
		scripts[shell] = filepath.Join(dir, "scenario."+shell)
		if err := os.WriteFile(scripts[shell], []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shellOut := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	t.Run("bash", func(t *testing.T) {
		testenv.Need(t, testenv.Program("bash"))
		complete := func(words ...string) string {
			script := "source " + scripts["bash"] + "; COMP_WORDS=(" + strings.Join(words, " ") + "); COMP_CWORD=" +
				strconv.Itoa(len(words)-1) + "; _scenario; echo \"${COMPREPLY[*]}\""
			return strings.TrimSpace(shellOut(t, "bash", "-c", script))
		}
		for _, c := range []struct {
			words []string
			want  string
		}{
			{[]string{"scenario", "ru"}, "run"},
			{[]string{"scenario", "v"}, "validate version"},
			{[]string{"scenario", "--v"}, "--version"},
			{[]string{"scenario", "run", "--fa"}, "--fail-fast"},
			{[]string{"scenario", "run", "--in"}, ""},
			{[]string{"scenario", "up", "--ke"}, "--keep-on-failure"},
			{[]string{"scenario", "run", "--format", "te"}, "text test2json"},
			{[]string{"scenario", "au"}, "audit"},
			{[]string{"scenario", "audit", "--format", "j"}, "json junit"},
			{[]string{"scenario", "audit", "--allow"}, "--allow-unprobed"},
			{[]string{"scenario", "run", "scenarios/bas"}, "scenarios/basic.yaml"},
			{[]string{"scenario", "help", "com"}, "completion"},
			{[]string{"scenario", "completion", "f"}, "fish"},
		} {
			if got := complete(c.words...); got != c.want {
				t.Errorf("bash completes %q to %q, want %q", c.words, got, c.want)
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		testenv.Need(t, testenv.Program("zsh"))
		zsh := scripts["zsh"]
		shellOut(t, "zsh", "-n", zsh)
		if got := shellOut(t, "zsh", "-c", "autoload -U compinit && compinit -u -D && source "+zsh+" && print $_comps[scenario]"); strings.TrimSpace(got) != "_scenario" {
			t.Errorf("zsh: scenario completes with %q", got)
		}
	})
	t.Run("fish", func(t *testing.T) {
		testenv.Need(t, testenv.Program("fish"))
		fish := scripts["fish"]
		shellOut(t, "fish", "-n", fish)
		got := shellOut(t, "fish", "-c", "source "+fish+"; complete -C 'scenario ru'; complete -C 'scenario run --fail'; complete -C 'scenario run --format te'; complete -C 'scenario run --in'")
		for _, want := range []string{"run\t", "--fail-fast\t", "test2json\t", "text\t"} {
			if !strings.Contains(got, want) {
				t.Errorf("fish completions lack %q:\n%s", want, got)
			}
		}
		if strings.Contains(got, "in-netns") {
			t.Errorf("fish completes a hidden flag:\n%s", got)
		}
	})
}

// --skip leaving no scenario to run starts nothing, and says why.
func TestSkipOfEveryScenarioIsInvalidUsage(t *testing.T) {
	if code, _, stderr := runCLI("run", "--skip", ".", "../../scenarios/basic.yaml"); code != exitInvalid || !strings.Contains(stderr, `--skip "." leave no scenario`) {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// Flags may follow file names; after "--" everything is a file name.
func TestParseInterspersed(t *testing.T) {
	for _, c := range []struct {
		args      []string
		files     string
		jsonGiven bool
	}{
		{[]string{"a.yaml", "--json", "b.yaml"}, "a.yaml b.yaml", true},
		{[]string{"--json", "a.yaml"}, "a.yaml", true},
		{[]string{"--", "-a.yaml", "--json"}, "-a.yaml --json", false},
		{[]string{"a.yaml", "--", "--json"}, "a.yaml --json", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		files, err := parseInterspersed(fs, c.args)
		if err != nil || strings.Join(files, " ") != c.files || *asJSON != c.jsonGiven {
			t.Errorf("%q: files %q, --json %v, %v", c.args, files, *asJSON, err)
		}
	}
}

// A step type's keys, alone: scenario steps TYPE and scenario help TYPE.
func TestStepsOfOneType(t *testing.T) {
	for _, args := range [][]string{{"steps", "expect"}, {"help", "expect"}} {
		code, stdout, stderr := runCLI(args...)
		if code != exitPassed || !strings.HasPrefix(stdout, "expect\n") || !strings.Contains(stdout, "silent: DURATION") ||
			strings.Contains(stdout, "\nsidecar\n") || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	// exec is a command and a step type: help shows the command and names
	// the step.
	if code, stdout, _ := runCLI("help", "exec"); code != exitPassed || !strings.HasPrefix(stdout, "Usage: scenario exec NODE -- COMMAND...") ||
		!strings.Contains(stdout, "exec is also a step type: scenario steps exec shows its keys.") {
		t.Errorf("help exec: exit %d: %s", code, stdout)
	}
	code, _, stderr := runCLI("steps", "expec")
	if code != exitInvalid || !strings.Contains(stderr, `no step type "expec"; did you mean expect?`) {
		t.Errorf("steps expec: exit %d, stderr %q", code, stderr)
	}
}

// run --format test2json: an invalid file is a failing test of its own in
// the stream, named after the file, with every problem as its output; a
// valid file's warnings are output of its test, never on stderr.
func TestTest2JSONStreamHasInvalidFilesAndWarnings(t *testing.T) {
	suspicious := writeSuspicious(t)
	invalid := "../../testdata/invalid/misspelled-key.yaml"
	outputOf := func(stdout string) map[string]string {
		out := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var e runner.TestEvent
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			switch {
			case e.Action == "output":
				out[e.Package+" "+e.Test] += *e.Output
			case e.Test != "" && (e.Action == "pass" || e.Action == "fail"):
				out[e.Package+" "+e.Test+" verdict"] = e.Action
			}
		}
		return out
	}
	code, stdout, stderr := runCLI("run", "--format", "test2json", invalid, suspicious)
	if code != exitInvalid {
		t.Errorf("exit %d, want 2", code)
	}
	out := outputOf(stdout)
	if out["../../testdata/invalid misspelled-key verdict"] != "fail" ||
		!strings.Contains(out["../../testdata/invalid misspelled-key"], invalid+":2:20: run: unknown key \"comand\"") {
		t.Errorf("the invalid file is not a failing test with its problem:\n%s", stdout)
	}
	if strings.Contains(stderr, "warning:") {
		t.Errorf("a warning went to stderr under test2json:\n%s", stderr)
	}
	// The control: in text, the warning is on stderr.
	if _, _, stderr := runCLI("run", invalid, suspicious); !strings.Contains(stderr, "warning:") {
		t.Errorf("no warning on stderr in text: %s", stderr)
	}
}

// list lists: the library's warnings (four scenarios exist to show what
// the built-in proxy ignores) are validate's to print, not list's.
func TestListPrintsNoWarnings(t *testing.T) {
	code, stdout, stderr := runCLI("list", "../../scenarios")
	if code != exitPassed || stderr != "" || !strings.Contains(stdout, "l7-intentions-deny") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, _, stderr := runCLI("validate", "../../scenarios/l7-intentions-deny.yaml"); !strings.Contains(stderr, "warning:") {
		t.Errorf("validate shows no warning for l7-intentions-deny: %s", stderr)
	}
}

// validate --agent checks a deploy gate offline as run --agent reads it:
// services and sidecars are the cluster's, no process may start, a write
// needs --allow-writes; without --agent the same gate is invalid.
func TestValidateAgentChecksAsRunAgentWould(t *testing.T) {
	gate, starts := "../../testdata/agent/gate.yaml", "../../testdata/agent/starts-things.yaml"
	if code, _, stderr := runCLI("validate", gate); code != exitInvalid || !strings.Contains(stderr, `no earlier step registered service "web"`) {
		t.Errorf("without --agent: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI("validate", "--agent", gate); code != exitInvalid ||
		!strings.Contains(stderr, gate+":8:5: step 3 (set-intention) writes to the live cluster: add --allow-writes") ||
		strings.Contains(stderr, "no earlier step registered") {
		t.Errorf("--agent: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := runCLI("validate", "--agent", "--allow-writes", gate); code != exitPassed || !strings.Contains(stdout, "ok  "+gate) {
		t.Errorf("--agent --allow-writes: exit %d: %s%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI("validate", "--agent", starts); code != exitInvalid || !strings.Contains(stderr, "step 1 (start-agent) cannot run with --agent") {
		t.Errorf("--agent on a file that starts things: exit %d: %s", code, stderr)
	}
	if code, stdout, _ := runCLI("validate", "--agent", "--json", starts); code != exitInvalid || !strings.Contains(stdout, `"valid":false`) {
		t.Errorf("--agent --json: exit %d: %s", code, stdout)
	}
	if code, _, stderr := runCLI("validate", "--allow-writes", gate); code != exitInvalid || !strings.Contains(stderr, "--allow-writes goes with --agent") {
		t.Errorf("--allow-writes alone: exit %d: %s", code, stderr)
	}
}

// exec needs a node and a command, and a mesh that up holds: a held.json
// left by an up that was killed is no mesh.
func TestExecWithoutAHeldMesh(t *testing.T) {
	logs := t.TempDir()
	if code, _, stderr := runCLI("exec", "--logs", logs, "app1"); code != exitInvalid || !strings.Contains(stderr, "give a node and a command") {
		t.Errorf("no command: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI("exec", "--logs", logs, "app1", "--", "true"); code != exitInvalid || !strings.Contains(stderr, "no mesh is held under "+logs) {
		t.Errorf("nothing held: exit %d: %s", code, stderr)
	}
	stale := filepath.Join(logs, "gone")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, heldFile), []byte(`{"scenario": "gone", "pid": 1073741824, "nodes": [{"name": "app1"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("exec", "--logs", logs, "app1", "--", "true"); code != exitInvalid || !strings.Contains(stderr, "no mesh is held under "+logs) {
		t.Errorf("a stale held.json: exit %d: %s", code, stderr)
	}
}
