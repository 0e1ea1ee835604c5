package testenv

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// probeVar names the case TestProbe plays when this test binary runs
// itself as a child with the tier's switches set.
const probeVar = "TESTENV_PROBE"

var probes = map[string][]Requirement{
	"met":     {{Name: "thing", How: "get it", Missing: func() error { return nil }}},
	"missing": {{Name: "thing", How: "apt-get install thing", Missing: func() error { return errors.New("no thing here") }}},
	"wrong":   {{Name: "thing", How: "get it", Missing: func() error { return Wrong(errors.New("$THING names nothing")) }}},
	"looked": {{Name: "thing", How: "get it", Missing: func() error {
		os.Stdout.WriteString("looked for thing\n")
		return nil
	}}},
	"long": nil,
}

// TestProbe is the child's part: it does nothing unless probeVar is set.
func TestProbe(t *testing.T) {
	name := os.Getenv(probeVar)
	if name == "" {
		return
	}
	if name == "long" {
		Long(t, "a probe")
	} else {
		Need(t, probes[name]...)
	}
	t.Log("the test ran")
}

// probe runs TestProbe as a child with the given case, tier variable and
// -short, and returns its verbose output and whether it passed.
func probe(t *testing.T, name, full string, short bool) (string, bool) {
	t.Helper()
	args := []string{"-test.run=^TestProbe$", "-test.v", "-test.count=1"}
	if short {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), probeVar+"="+name, FullVar+"="+full)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return string(out), err == nil
}

func TestEachTierDoesWhatItSays(t *testing.T) {
	for _, c := range []struct {
		probe, full string
		short       bool
		pass        bool
		want        []string
		not         string
	}{
		// Short: skipped without looking, whether or not it is there.
		{"met", "", true, true, []string{"--- SKIP", "needs thing: the short tier (-short) needs Go alone; `make test` runs this test"}, "the test ran"},
		{"looked", "", true, true, []string{"--- SKIP"}, "looked for thing"},
		{"long", "", true, true, []string{"--- SKIP", "takes long (a probe): the short tier (-short) leaves it to `make test`"}, "the test ran"},
		// Plain: what is there runs, what is not is skipped with why and how.
		{"met", "", false, true, []string{"--- PASS", "the test ran"}, "SKIP"},
		{"missing", "", false, true, []string{"--- SKIP", "needs thing: no thing here; apt-get install thing (`make test` fails here instead of skipping)"}, "the test ran"},
		{"long", "", false, true, []string{"--- PASS", "the test ran"}, "SKIP"},
		// Full: nothing skips.
		{"met", "1", false, true, []string{"--- PASS", "the test ran"}, "SKIP"},
		{"missing", "1", false, false, []string{"--- FAIL", "needs thing: no thing here; apt-get install thing (the full tier, SCENARIO_TEST_FULL=1, fails what it cannot run)"}, "SKIP"},
		// What is set wrongly fails outside the short tier.
		{"wrong", "", false, false, []string{"--- FAIL", "needs thing: $THING names nothing"}, "SKIP"},
		{"wrong", "", true, true, []string{"--- SKIP"}, "FAIL"},
		// Switches that contradict each other or cannot be read fail.
		{"met", "1", true, false, []string{"--- FAIL", "SCENARIO_TEST_FULL=1 with -short: the full tier runs every test"}, "SKIP"},
		{"long", "1", true, false, []string{"--- FAIL", "SCENARIO_TEST_FULL=1 with -short"}, "SKIP"},
		{"met", "yes", false, false, []string{"--- FAIL", `SCENARIO_TEST_FULL="yes": want 1 (the full tier, as ` + "`make test`" + ` sets it) or nothing`}, "SKIP"},
	} {
		out, pass := probe(t, c.probe, c.full, c.short)
		if pass != c.pass || strings.Contains(out, c.not) {
			t.Errorf("%s, %s=%s, short %v: passed %v, want %v; output:\n%s", c.probe, FullVar, c.full, c.short, pass, c.pass, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s, %s=%s, short %v: output lacks %q:\n%s", c.probe, FullVar, c.full, c.short, w, out)
			}
		}
	}
}

// A misspelt tier switch fails the run here even when no test of the
// run calls Need.
func TestTheTierSwitchIsUnderstood(t *testing.T) {
	if _, err := Full(); err != nil {
		t.Fatal(err)
	}
}

func TestProgramSaysHowToInstallIt(t *testing.T) {
	if got := Program("socat").How; got != "`make deps` installs it (Debian's socat)" {
		t.Errorf("socat: %q", got)
	}
	if err := Program("no-such-program-here").Missing(); err == nil {
		t.Error("a program that is nowhere was found")
	}
	if err := Program("go").Missing(); err != nil {
		t.Errorf("go, which runs this test, was not found: %v", err)
	}
}
