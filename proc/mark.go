package proc

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
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
	return m.inEnviron(strconv.Itoa(pid), nil)
}

// Processes lists the running (not zombie) processes carrying the mark,
// but for those skip says to leave out (nil: none).
func (m Mark) Processes(skip func(pid int) bool) []int {
	if m.Value == "" {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	// Every process's environment is read into one buffer: this scan
	// runs for each process stopped, beside the kernel ending it.
	buf := make([]byte, 16<<10)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !m.inEnviron(e.Name(), &buf) || (skip != nil && skip(pid)) {
			continue
		}
		if exited(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// inEnviron reports whether /proc/PID/environ holds Var=Value as a whole
// entry (not a prefix of a longer value, nor the end of a longer
// variable's name). buf, when given, is the buffer to read into, grown as
// needed.
func (m Mark) inEnviron(pid string, buf *[]byte) bool {
	if buf == nil {
		b := make([]byte, 4<<10)
		buf = &b
	}
	n := 0
	fd, err := unix.Open("/proc/"+pid+"/environ", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		defer unix.Close(fd)
		for {
			if n == len(*buf) {
				*buf = append(*buf, make([]byte, len(*buf))...)
			}
			r, rerr := unix.Read(fd, (*buf)[n:])
			if rerr == unix.EINTR {
				continue
			}
			if rerr != nil {
				err = rerr
			}
			if rerr != nil || r <= 0 {
				break
			}
			n += r
		}
	}
	if err != nil && n == 0 {
		// Unreadable: a kernel thread (group 0: getpgid tells it in one
		// call, where LiveDir reads its stat), gone, or a leader thread
		// that has exited while others run on (the kernel shows it with
		// no environment); those threads show it.
		if g, gerr := unix.Getpgid(atoi(pid)); gerr != nil || g == 0 {
			return false
		}
		if dir, ok := LiveDir(atoi(pid)); ok && dir != "/proc/"+pid {
			if env, err := os.ReadFile(dir + "/environ"); err == nil {
				return holdsEntry(env, m.Var+"="+m.Value)
			}
		}
		return false
	}
	return holdsEntry((*buf)[:n], m.Var+"="+m.Value)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// holdsEntry reports whether env, NUL-separated entries, holds entry as
// one whole entry.
func holdsEntry(env []byte, entry string) bool {
	for i := 0; i <= len(env); {
		j := bytes.Index(env[i:], []byte(entry))
		if j < 0 {
			return false
		}
		j += i
		end := j + len(entry)
		if (j == 0 || env[j-1] == 0) && (end == len(env) || env[end] == 0) {
			return true
		}
		i = j + 1
	}
	return false
}
