package proc

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// A mark matches a whole environment entry: a run whose value is a prefix
// of another run's must not find the other run's processes.
func TestMarkFindsOnlyProcessesWithTheWholeValue(t *testing.T) {
	// cat itself, not a shell that execs it: one exec to wait for.
	cmd := exec.Command("cat")
	cmd.Env = append(os.Environ(), "SCENARIO_TEST_MARK=run-12")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	pid := cmd.Process.Pid

	whole := Mark{Var: "SCENARIO_TEST_MARK", Value: "run-12"}
	// Start returns when the exec has begun; the new environment shows in
	// /proc a moment later.
	for deadline := time.Now().Add(5 * time.Second); !whole.On(pid) && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	if !whole.On(pid) || !slices.Contains(whole.Processes(nil), pid) {
		t.Errorf("the mark run-12 does not find process %d, which carries it", pid)
	}
	if slices.Contains(whole.Processes(func(p int) bool { return p == pid }), pid) {
		t.Errorf("a skipped process is listed")
	}
	prefix := Mark{Var: "SCENARIO_TEST_MARK", Value: "run-1"}
	if prefix.On(pid) || slices.Contains(prefix.Processes(nil), pid) {
		t.Errorf("the mark run-1 finds process %d, whose mark is run-12", pid)
	}
	if (Mark{Var: "SCENARIO_TEST_MARK"}).On(pid) {
		t.Errorf("an empty mark matches")
	}
}

// An entry matches whole, wherever it is among the environment's.
func TestHoldsEntryMatchesWholeEntriesOnly(t *testing.T) {
	const entry = "M=run-12"
	for env, want := range map[string]bool{
		"M=run-12":                   true,
		"M=run-12\x00":               true,
		"A=1\x00M=run-12\x00B=2\x00": true,
		"A=1\x00M=run-12":            true,
		"A=1\x00M=run-123\x00":       false,
		"A=1\x00XM=run-12\x00":       false,
		"A=M=run-12\x00":             false,
		"XM=run-12\x00M=run-12\x00":  true,
		"":                           false,
	} {
		if got := holdsEntry([]byte(env), entry); got != want {
			t.Errorf("holdsEntry(%q, %q) = %v, want %v", env, entry, got, want)
		}
	}
}

// A mark after a large environment is found: the environment is read
// whole, however long.
func TestMarkFindsTheMarkAfterALargeEnvironment(t *testing.T) {
	cmd := exec.Command("cat")
	cmd.Env = append(os.Environ(), "SCENARIO_TEST_BIG="+strings.Repeat("x", 100<<10), "SCENARIO_TEST_MARK=big-1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	mark := Mark{Var: "SCENARIO_TEST_MARK", Value: "big-1"}
	for deadline := time.Now().Add(5 * time.Second); !mark.On(pid) && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	if !mark.On(pid) || !slices.Contains(mark.Processes(nil), pid) {
		t.Errorf("the mark after 100 KiB of environment is not found on %d", pid)
	}
}
