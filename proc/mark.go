package proc

import (
	"bytes"
	"os"
	"strconv"
)

// RunMarkVar is set in the runner's environment to a value unique to the
// run, so every process it starts, and whatever they start, inherits it
// (the reaper kills what carries it; a listener carrying it is the run's
// own).
const RunMarkVar = "SCENARIO_RUN"

// A Mark is an environment variable set to a value unique to a run or a
// family: every descendant inherits it unless it clears its environment,
// so /proc finds them wherever they moved (another group, another
// session). This is the one place that scans /proc for a mark.
type Mark struct{ Var, Value string }

// On reports whether process pid's environment holds the mark.
func (m Mark) On(pid int) bool {
	if m.Value == "" {
		return false
	}
	return m.inEnviron(strconv.Itoa(pid))
}

// Processes lists the running (not zombie) processes carrying the mark,
// but for those skip says to leave out (nil: none).
func (m Mark) Processes(skip func(pid int) bool) []int {
	if m.Value == "" {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !m.inEnviron(e.Name()) || (skip != nil && skip(pid)) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err != nil || bytes.Contains(stat, []byte(") Z ")) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// inEnviron reports whether /proc/PID/environ holds Var=Value as a whole
// entry (not a prefix of a longer value).
func (m Mark) inEnviron(pid string) bool {
	env, err := os.ReadFile("/proc/" + pid + "/environ")
	if err != nil {
		return false
	}
	want := []byte("\x00" + m.Var + "=" + m.Value + "\x00")
	return bytes.Contains(append(append([]byte{0}, env...), 0), want)
}
