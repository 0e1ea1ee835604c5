package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Cell is a cgroup (v1, the freezer hierarchy, else pids) that holds one
// started process and everything it starts. Membership is the kernel's:
// a child is born in its parent's cgroup and cannot leave it by clearing
// its environment, calling setsid, changing its process group or being
// orphaned; only a write to another cgroup's tasks file moves it. So the
// cell's members are the process's whole family, and killing them ends it.
//
// The process is born in the cell: the thread that forks it moves into
// the cell first and back after (cgroup v1 places threads one by one), so
// there is no instant in which the child runs outside it.
//
// Each run's cells are in one cgroup of the run's, named RunCellPrefix
// with the runner's pid and start time: the reaper kills and removes it if
// the runner dies, and a later run (or `scenario clean`) sweeps the cells
// of runs whose runner and reaper were both killed.
type Cell struct {
	dir  string // this cell's cgroup directory
	path string // its path in the hierarchy, as /proc/PID/cgroup says it
	home string // the runner's own cgroup directory, where threads go back
	kind string // "freezer" or "pids"
}

// RunCellPrefix begins the name of every run's cgroup:
// scenario-<runner pid>-<runner start time in clock ticks since boot>.
const RunCellPrefix = "scenario-"

// RunCellPattern matches a run's cgroup name; its groups are the runner's
// pid and start time.
var RunCellPattern = regexp.MustCompile(`^scenario-([0-9]+)-([0-9]+)$`)

var (
	runCellOnce sync.Once
	runCellDir  string // this run's cgroup, under home
	runCellHome string // this process's own cgroup in the hierarchy
	runCellKind string
	runCellPath string // the run's cgroup path, as /proc/PID/cgroup says it
	runCellErr  error
	cellSeq     atomic.Int64
)

// CellsAvailable says whether started processes get a cell (cgroup v1
// freezer or pids, writable: root), and if not, why not. Asking leaves
// the hierarchy as it was: the run's cgroup is made with its first cell.
func CellsAvailable() error {
	_, _, _, err := runCell()
	return err
}

// RunCell is this run's cgroup directory, for the reaper; "" when cells
// are unavailable. It exists once the first cell is made (NewCell), and
// again after RemoveRunCell when another is.
func RunCell() string {
	dir, _, _, err := runCell()
	if err != nil {
		return ""
	}
	return dir
}

func runCell() (dir, home, kind string, err error) {
	runCellOnce.Do(func() {
		var own string
		runCellHome, runCellKind, own, runCellErr = ownCgroup()
		if runCellErr != nil {
			return
		}
		start, err := StartTime(os.Getpid())
		if err != nil {
			runCellErr = err
			return
		}
		name := fmt.Sprintf("%s%d-%d", RunCellPrefix, os.Getpid(), start)
		runCellPath = filepath.Join(own, name)
		dir := filepath.Join(runCellHome, name)
		// Whether cgroups can be made here is known only by making one
		// (a writable directory may still refuse): the run's own, removed
		// at once, so that a process that only asks leaves nothing. Were
		// this process killed in between, the sweep of dead runs would
		// remove it by its name.
		switch err := os.Mkdir(dir, 0o755); {
		case errors.Is(err, os.ErrExist):
		case err != nil:
			runCellErr = fmt.Errorf("creating the run's cgroup: %w", err)
			return
		default:
			if err := rmdirCgroup(dir); err != nil {
				runCellErr = fmt.Errorf("removing the run's cgroup after trying to create it: %w", err)
				return
			}
		}
		runCellDir = dir
	})
	return runCellDir, runCellHome, runCellKind, runCellErr
}

// NewCell makes a cell for the process called name. It fails when cells
// are unavailable (no cgroup v1 freezer or pids hierarchy, or not root):
// the caller then relies on process groups and family marks alone.
func NewCell(name string) (*Cell, error) {
	dir, home, kind, err := runCell()
	if err != nil {
		return nil, err
	}
	// The run's cgroup is made with its first cell, and again if it was
	// removed (RemoveRunCell) and the process goes on starting processes
	// (a test binary).
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating the run's cgroup: %w", err)
	}
	leaf := fmt.Sprintf("p%d-%s", cellSeq.Add(1), cellLeafName(name))
	c := &Cell{dir: filepath.Join(dir, leaf), path: filepath.Join(runCellPath, leaf), home: home, kind: kind}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the cgroup of %s: %w", name, err)
	}
	return c, nil
}

// cellLeafName is name as a cgroup directory's name: letters, digits,
// '.', '_' and '-', at most 48 of them.
func cellLeafName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 48 {
		b = b[:48]
	}
	return string(b)
}

// Dir is the cell's cgroup directory.
func (c *Cell) Dir() string { return c.dir }

// Fork runs start, which forks a child, with the calling thread in the
// cell, so that the child is born there; the thread is moved back after.
// The caller's goroutine is locked to its thread meanwhile. If the thread
// cannot be moved back it stays locked, and Go ends it with its goroutine
// (a child whose parent-death signal is tied to that thread then dies with
// it): Fork returns an error either way.
func (c *Cell) Fork(start func() error) error {
	runtime.LockOSThread()
	if err := moveSelf(c.dir); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering cgroup %s: %w", c.dir, err)
	}
	err := start()
	if berr := moveSelf(c.home); berr != nil {
		return errors.Join(err, fmt.Errorf("leaving cgroup %s: %w", c.dir, berr))
	}
	runtime.UnlockOSThread()
	return err
}

// moveSelf moves the calling thread into cgroup dir, the goroutine being
// locked to it. It writes 0, the writer itself, rather than its thread
// id: a thread that moves itself is moved without write-locking the
// kernel's cgroup_threadgroup_rwsem (Linux's "cgroup: Optimize single
// thread migration", 5.x on), whose first taking after a quiet spell
// waits for an RCU grace period, 6-15 ms (up to 80 ms under load), once
// in and again on the way back.
func moveSelf(dir string) error {
	return os.WriteFile(filepath.Join(dir, "tasks"), []byte("0"), 0)
}

// ForkOnOwnThread is Fork on a goroutine of its own, for a caller whose
// thread is not dedicated to the start (one that is not in a node's
// namespace): if the thread cannot leave the cell, it ends.
func (c *Cell) ForkOnOwnThread(start func() error) error {
	done := make(chan error, 1)
	go func() { done <- c.Fork(start) }()
	return <-done
}

// Members lists the running processes of the cell (zombies left out: they
// hold nothing), nested cgroups included.
func (c *Cell) Members() []int { return treeMembers(c.dir) }

// Holds says whether process pid is in the cell.
func (c *Cell) Holds(pid int) bool {
	dir, ok := LiveDir(pid)
	if !ok {
		return false
	}
	path, ok := cgroupAt(dir, c.kind)
	return ok && (path == c.path || strings.HasPrefix(path, c.path+"/"))
}

// Kill kills every process in the cell until none runs, and removes it.
// It kills in rounds until the cell is empty; from the second round on, a
// freezer cell is frozen while it is killed, so that no member can fork
// in between (see killTree).
func (c *Cell) Kill() error {
	c.evictSelf()
	err := killTree(c.dir, c.kind, killSettle)
	if rerr := removeTree(c.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// evictSelf moves any thread of this process still in the cell back home:
// none should be (Fork moves its thread back, and Go makes the threads a
// locked thread needs from a thread of its own), but a cell is killed
// whole, and this process must never be.
func (c *Cell) evictSelf() {
	raw, _ := os.ReadFile(filepath.Join(c.dir, "tasks"))
	for _, f := range strings.Fields(string(raw)) {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%s", f)); err == nil {
			_ = os.WriteFile(filepath.Join(c.home, "tasks"), []byte(f), 0)
		}
	}
}

// killTree kills every process in the cgroup dir and those nested in it,
// round after round, until none is left or timeout passes. A process
// counts until all its threads have exited: a leader whose threads are
// still exiting shows as a zombie, and holds the cgroup (and its files,
// its ports) until they have. So when killTree returns nil, the cgroup
// can be removed at once.
func killTree(dir, kind string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for round := 0; ; round++ {
		pids := unexited(treeProcs(dir))
		if len(pids) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("cgroup %s: %d processes still running after %s: %v", dir, len(pids), timeout, pids)
		}
		// A member found now was forked between the last listing and its
		// kill: from here on the cell is frozen while it is killed, so
		// that none can fork again, and a fork bomb cannot outrun the
		// rounds. The first round needs no freeze (its wait for every
		// member to stop would only delay the kill): most cells hold one
		// process, often killed with its group already.
		frozen := round > 0 && kind == "freezer" && freeze(dir, deadline)
		if frozen {
			// Listed again once none can fork: a child forked between
			// the first listing and the freeze is killed this round too.
			pids = unexited(treeProcs(dir))
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		// Killed while frozen: the kill lands when they thaw, all at once.
		if frozen {
			_ = os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
		}
		_ = AwaitExit(pids, time.Until(deadline))
		reapAdopted(pids)
	}
}

// freeze freezes the freezer cgroup dir and waits, until deadline at most,
// until it is frozen.
func freeze(dir string, deadline time.Time) bool {
	state := filepath.Join(dir, "freezer.state")
	if os.WriteFile(state, []byte("FROZEN"), 0) != nil {
		return false
	}
	// FREEZING lasts while a member is in an uninterruptible sleep: it is
	// frozen when it leaves it. Killed meanwhile, it dies at the thaw.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(state)
		if err != nil || strings.TrimSpace(string(b)) == "FROZEN" || !time.Now().Before(deadline) {
			return true
		}
		<-tick.C
	}
}

// treeMembers lists the running processes of cgroup dir and its nested
// cgroups.
func treeMembers(dir string) []int {
	return slices.DeleteFunc(treeProcs(dir), exited)
}

// treeProcs lists the processes of cgroup dir and its nested cgroups, as
// the kernel lists them (a zombie leader while its threads exit too), but
// this one.
func treeProcs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		raw, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(raw)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid == os.Getpid() || slices.Contains(pids, pid) {
				continue
			}
			pids = append(pids, pid)
		}
		return nil
	})
	return pids
}

// unexited keeps those of pids that have not wholly exited (see exited).
func unexited(pids []int) []int {
	return slices.DeleteFunc(pids, func(pid int) bool { return threadGroupExited(pid) })
}

// threadGroupExited says whether every thread of process pid has exited
// (or pid is gone): a pidfd becomes readable then, whereas a zombie's
// /proc/PID/stat says Z as soon as its leader thread has.
func threadGroupExited(pid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return true
	}
	if err != nil {
		return isZombie(pid) // no pidfd: the leader's state is all there is
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 1
}

// exited says whether process pid holds nothing any more: it is gone, or
// a zombie whose every thread has exited. A zombie leader whose other
// threads run on (its main thread called exit(2), not exit_group) still
// holds its files and its ports, and may still fork: it has not exited.
func exited(pid int) bool {
	return isZombie(pid) && threadGroupExited(pid)
}

// LiveDir is the /proc directory through which process pid's files,
// environment and cgroup are read: /proc/PID, or, when its leader thread
// has exited while other threads run on, one of those threads'
// (/proc/PID/task/TID), since the kernel shows a zombie leader with no
// files, no environment and, on cgroup v1, in the root cgroup. false: pid
// has wholly exited.
func LiveDir(pid int) (string, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	if !isZombie(pid) {
		return dir, true
	}
	if threadGroupExited(pid) {
		return "", false
	}
	tasks, _ := os.ReadDir(dir + "/task")
	for _, t := range tasks {
		if t.Name() != strconv.Itoa(pid) && !statSaysZombie(dir+"/task/"+t.Name()) {
			return dir + "/task/" + t.Name(), true
		}
	}
	return "", false
}

func statSaysZombie(dir string) bool {
	stat, err := os.ReadFile(dir + "/stat")
	return err != nil || bytes.Contains(stat, []byte(") Z "))
}

// isZombie says whether process pid's stat says Z (or it is gone): its
// leader thread has exited.
func isZombie(pid int) bool { return statSaysZombie("/proc/" + strconv.Itoa(pid)) }

// removeTree removes cgroup dir and the cgroups nested in it, deepest
// first. A cgroup directory is removed with rmdir, never by deleting its
// files.
func removeTree(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := rmdirCgroup(dirs[i]); err != nil {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// rmdirCgroup removes an empty cgroup; it may be busy for a moment after
// its last member was killed (until that member has fully exited).
func rmdirCgroup(dir string) error {
	deadline := time.Now().Add(time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || !time.Now().Before(deadline) {
			return err
		}
		<-tick.C
	}
}

// CellTreeMembers lists the running processes of the cgroup dir and those
// nested in it.
func CellTreeMembers(dir string) []int { return treeMembers(dir) }

// KillCellTree kills every process in the cgroup dir (a run's, with its
// cells) and removes it, for the reaper and the sweep of dead runs.
func KillCellTree(dir string) error {
	kind := "pids"
	if _, err := os.Stat(filepath.Join(dir, "freezer.state")); err == nil {
		kind = "freezer"
	}
	err := killTree(dir, kind, 5*time.Second)
	if rerr := removeTree(dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// CellHierarchies lists the mount points of the cgroup v1 hierarchies
// cells may be in (freezer, pids), for the sweep of dead runs.
func CellHierarchies() []string {
	var out []string
	for _, kind := range []string{"freezer", "pids"} {
		if mount, _, err := hierarchy(kind); err == nil {
			out = append(out, mount)
		}
	}
	return out
}

// ownCgroup finds this process's cgroup directory in the freezer
// hierarchy, else the pids one, and checks that it may create cgroups
// there.
func ownCgroup() (dir, kind, path string, err error) {
	var errs []error
	for _, kind := range []string{"freezer", "pids"} {
		mount, root, err := hierarchy(kind)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		path, ok := cgroupOf(os.Getpid(), kind)
		if !ok {
			errs = append(errs, fmt.Errorf("this process is in no %s cgroup", kind))
			continue
		}
		rel := strings.TrimPrefix(path, root)
		if rel != path && rel != "" && !strings.HasPrefix(rel, "/") {
			rel = path
		}
		dir := filepath.Join(mount, rel)
		if unix.Access(dir, unix.W_OK) != nil {
			errs = append(errs, fmt.Errorf("cgroup %s is not writable (run as root)", dir))
			continue
		}
		return dir, kind, path, nil
	}
	return "", "", "", fmt.Errorf("no cgroup v1 freezer or pids hierarchy to hold started processes: %w", errors.Join(errs...))
}

// hierarchy finds the mount point of the cgroup v1 hierarchy of
// controller kind, and the cgroup path mounted there (a container's own).
func hierarchy(kind string) (mount, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "id parent major:minor root mountpoint options ... - fstype source superoptions"
		before, after, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pre, post := strings.Fields(before), strings.Fields(after)
		if len(pre) < 5 || len(post) < 3 || post[0] != "cgroup" {
			continue
		}
		if slices.Contains(strings.Split(post[2], ","), kind) {
			return pre[4], pre[3], nil
		}
	}
	return "", "", fmt.Errorf("no cgroup v1 %s hierarchy is mounted", kind)
}

// cgroupOf reads process pid's cgroup path in the hierarchy of kind.
func cgroupOf(pid int, kind string) (string, bool) {
	return cgroupAt("/proc/"+strconv.Itoa(pid), kind)
}

// cgroupAt reads the cgroup path in the hierarchy of kind of the process
// or thread whose /proc directory is dir.
func cgroupAt(dir, kind string) (string, bool) {
	raw, err := os.ReadFile(dir + "/cgroup")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), kind) {
			return parts[2], true
		}
	}
	return "", false
}

// StartTime is process pid's start time in clock ticks since boot
// (/proc/PID/stat's 22nd field): with the pid, it names one process for
// good, since a pid is reused but never with the same start time.
func StartTime(pid int) (uint64, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after "pid (comm)": state is 3rd overall, starttime 22nd.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Alive says whether process pid runs with start time start: the same
// process, not another that got its pid later.
func Alive(pid int, start uint64) bool {
	got, err := StartTime(pid)
	return err == nil && got == start && !exited(pid)
}

// RemoveRunCell kills what is left in this run's cgroup and removes it,
// at the end of a run (the reaper does it too, if the run dies first).
func RemoveRunCell() error {
	if dir := RunCell(); dir != "" {
		return KillCellTree(dir)
	}
	return nil
}
