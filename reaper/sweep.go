package reaper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/netns"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/sockets"
)

// Swept says what Sweep did: what it removed, and what it found of a dead
// run but kept, with why.
type Swept struct {
	Removed []string
	Kept    []string
}

// Sweep removes what runs whose runner is gone left behind: when a runner
// and its reaper are killed together (a cancelled CI job's cgroup), nobody
// is left to clean up. It removes only what it can prove a runner created:
//
//   - cgroups named proc.RunCellPattern (scenario-<pid>-<start time>),
//     whose processes it kills first;
//   - network namespaces under /run/netns named as runners name them
//     (netns.ParseRunName: sc<pid>-<start time>-...), unless a live
//     process is in one (someone debugging there: it is kept and said).
//
// A runner is gone when no process has its pid with its start time, so a
// reused pid does not keep a dead run's leftovers, and a live run's are
// never touched. Sweep does nothing where it may not (not root).
func Sweep() (Swept, error) {
	var s Swept
	var errs []error
	// Processes first: a namespace lives as long as a process is in it.
	for _, mount := range proc.CellHierarchies() {
		for _, dir := range deadRunCells(mount) {
			n := len(proc.CellTreeMembers(dir))
			if err := proc.KillCellTree(dir); err != nil {
				errs = append(errs, err)
				continue
			}
			what := "cgroup " + dir
			if n > 0 {
				what += fmt.Sprintf(" (killed %s)", processes(n))
			}
			s.Removed = append(s.Removed, what)
		}
	}
	entries, err := os.ReadDir(netns.RunDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	var users map[nsKey][]int
	for _, e := range entries {
		pid, start, ok := netns.ParseRunName(e.Name())
		if !ok || proc.Alive(pid, start) {
			continue
		}
		if users == nil {
			users = namespaceUsers()
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(netns.RunDir, e.Name()), &st); err == nil && len(users[nsKey{st.Dev, st.Ino}]) > 0 {
			var who []string
			for _, pid := range users[nsKey{st.Dev, st.Ino}] {
				who = append(who, sockets.Describe(pid).String())
			}
			s.Kept = append(s.Kept, fmt.Sprintf("network namespace %s: its runner (pid %d) is gone, but %s is in it", e.Name(), pid, strings.Join(who, ", ")))
			continue
		}
		existed, err := netns.RemoveNamed(e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if existed {
			s.Removed = append(s.Removed, "network namespace "+e.Name())
		}
	}
	sort.Strings(s.Removed)
	return s, errors.Join(errs...)
}

// deadRunCells lists the run cgroups under mount whose runner is gone.
// A live run's cgroup is not entered: what is below it is its own.
func deadRunCells(mount string) []string {
	var out []string
	_ = filepath.WalkDir(mount, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		m := proc.RunCellPattern.FindStringSubmatch(d.Name())
		if m == nil {
			return nil
		}
		pid, _ := strconv.Atoi(m[1])
		start, _ := strconv.ParseUint(m[2], 10, 64)
		if !proc.Alive(pid, start) {
			out = append(out, path)
		}
		return filepath.SkipDir
	})
	return out
}

// nsKey names a namespace: the device and inode of its nsfs file.
type nsKey struct{ dev, ino uint64 }

// namespaceUsers maps each network namespace to the processes in it.
func namespaceUsers() map[nsKey][]int {
	users := map[nsKey][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &st) == nil {
			k := nsKey{st.Dev, st.Ino}
			users[k] = append(users[k], pid)
		}
	}
	return users
}

// processes is "1 process" or "N processes".
func processes(n int) string {
	if n == 1 {
		return "1 process"
	}
	return fmt.Sprintf("%d processes", n)
}
