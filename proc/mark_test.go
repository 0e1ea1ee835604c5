package proc

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
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
