// Package reaper kills what a runner started when the runner cannot: the
// pattern of testcontainers' Ryuk. The runner starts the reaper (its own
// binary in a hidden mode) holding the read end of a pipe, and tells it
// over the pipe of every process group it starts and stops. When the pipe
// closes, for whatever reason (a clean exit, SIGKILL, a crash, an OOM
// kill), the reaper kills every group still registered and exits.
//
// A parent-death signal is not enough: it reaches only the process the
// runner started (often sh), not what that process forked (socat's
// children, a background job), so groups are killed, not pids.
//
// The runner also registers the named network namespaces of its
// topologies ("netns NAME", "-netns NAME"); once the processes are dead,
// the reaper removes the names still registered. Killing comes first: a
// namespace lives as long as a process is in it.
//
// The runner registers its run's cgroup too ("cgroup DIR", see proc.Cell),
// which holds every process it started and all their descendants: the
// reaper kills them all, whatever they did with their environment,
// session, group or parent, then removes the cgroups.
//
// The protocol, one line each:
//
//	+PGID        watch process group PGID
//	-PGID        forget it
//	netns NAME   watch the network namespace /run/netns/NAME
//	-netns NAME  forget it
//	cgroup DIR   watch the run's cgroup directory DIR
package reaper

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/netns"
	"github.com/scenario-tool/scenario/proc"
)

// Arg is the hidden command line argument that runs the reaper.
const Arg = "__reaper"

// MarkVar is set in the runner's environment to a value unique to the run,
// so every process it starts, and whatever they start, inherits it. The
// reaper also kills the processes carrying the mark: that covers a
// process started in the instant before its group was registered, and one
// that left its group (setsid) without clearing its environment.
const MarkVar = proc.RunMarkVar

// Reaper is the runner's end of the pipe.
type Reaper struct {
	mu     sync.Mutex
	pipe   *os.File
	cmd    *exec.Cmd
	broken bool
}

// Start starts exe with Arg as the reaper of this process. The reaper gets
// a process group of its own, so that a terminal's Ctrl-C does not reach
// it, and no parent-death signal, so that it outlives this process.
func Start(exe string, stderr io.Writer) (*Reaper, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	mark := fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano())
	if err := os.Setenv(MarkVar, mark); err != nil {
		w.Close()
		return nil, err
	}
	cmd := exec.Command(exe, Arg, strconv.Itoa(os.Getpid()), mark)
	cmd.Stdin = r
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the reaper: %w", err)
	}
	rp := &Reaper{pipe: w, cmd: cmd}
	go func() { _ = cmd.Wait() }() // reaped when it exits
	return rp, nil
}

// Watch registers group pgid.
func (r *Reaper) Watch(pgid int) { r.send('+', pgid) }

// Unwatch forgets group pgid (it was stopped; its id may be reused).
func (r *Reaper) Unwatch(pgid int) { r.send('-', pgid) }

// WatchNetns registers the named network namespace /run/netns/name. A
// topology calls it before creating the namespace, so that no instant
// passes with the namespace unregistered.
func (r *Reaper) WatchNetns(name string) { r.sendLine(netnsLine + name) }

// UnwatchNetns forgets the namespace name (it was removed).
func (r *Reaper) UnwatchNetns(name string) { r.sendLine("-" + netnsLine + name) }

const netnsLine = "netns "

// WatchCell registers the run's cgroup dir (proc.RunCell).
func (r *Reaper) WatchCell(dir string) { r.sendLine(cgroupLine + dir) }

// UnwatchCell forgets the run's cgroup dir once the runner has removed it:
// a process that goes on after its run (a test binary running one
// scenario after another) makes it again for its next run, which the
// next run's reaper watches, and this reaper must leave alone.
func (r *Reaper) UnwatchCell(dir string) { r.sendLine("-" + cgroupLine + dir) }

const cgroupLine = "cgroup "

// UnwatchMark tells the reaper to leave the processes carrying its mark
// alone: the mark is set in this process's environment, which every
// started process inherits, so while another run of this process goes on
// (tests calling the CLI side by side), its processes may carry it too.
func (r *Reaper) UnwatchMark() { r.sendLine(unwatchMarkLine) }

const unwatchMarkLine = "-mark"

func (r *Reaper) send(op byte, pgid int) { r.sendLine(fmt.Sprintf("%c%d", op, pgid)) }

func (r *Reaper) sendLine(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken || strings.ContainsAny(line, "\n") {
		return
	}
	// One short write is atomic on a pipe; the reaper reads line by line.
	if _, err := io.WriteString(r.pipe, line+"\n"); err != nil {
		r.broken = true
	}
}

// Close ends the reaper once everything it watched has been stopped; it
// kills whatever is still registered, as if this process had died.
func (r *Reaper) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broken = true
	r.pipe.Close()
}

// Main is the hidden mode's entry point: the reaper must outlive whatever
// ends the runner (a terminal's hangup, Ctrl-C sent to the whole session,
// a closed stderr), so it ignores those signals, then serves.
func Main(args []string) int {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE)
	return serve(os.Stdin, os.Stderr, args, runnerExit(args))
}

// runnerExit returns a wait for the runner's exit, at most runnerExitWait:
// a runner that closes the pipe at its clean end exits right after, and
// the hunt then does not take the CPU from its last milliseconds. A
// runner that died has exited already: no wait. The runner's pidfd is
// opened now, while it runs, so that a pid reused later is not waited for.
func runnerExit(args []string) func() {
	if len(args) != 2 {
		return nil
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		return nil
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil
	}
	return func() {
		defer unix.Close(fd)
		_ = proc.AwaitPidfd(fd, runnerExitWait)
	}
}

// runnerExitWait bounds the wait for a runner that closed the pipe to exit.
const runnerExitWait = time.Second

// Serve is the reaper's main: it reads registrations from in until in
// ends, then kills every group still registered and every process marked
// with mark, waits (boundedly) until none of them runs, removes the
// network namespaces still registered, and returns the exit status. args
// are the runner's pid and its mark.
func Serve(in io.Reader, stderr io.Writer, args []string) int {
	return serve(in, stderr, args, nil)
}

// serve is Serve, calling afterEOF (when set) once in has ended, before
// the hunt.
func serve(in io.Reader, stderr io.Writer, args []string, afterEOF func()) int {
	runner, mark := "", ""
	if len(args) == 2 {
		runner, mark = args[0], args[1]
	}
	groups := map[int]bool{}
	namespaces := map[string]bool{}
	var cells []string
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		line := lines.Text()
		if dir, ok := strings.CutPrefix(line, cgroupLine); ok {
			// Only a run's cgroup: nothing else is ever removed.
			if filepath.IsAbs(dir) && proc.RunCellPattern.MatchString(filepath.Base(dir)) {
				cells = append(cells, filepath.Clean(dir))
			}
			continue
		}
		if dir, ok := strings.CutPrefix(line, "-"+cgroupLine); ok {
			cells = slices.DeleteFunc(cells, func(c string) bool { return c == filepath.Clean(dir) })
			continue
		}
		if line == unwatchMarkLine {
			mark = ""
			continue
		}
		if name, ok := strings.CutPrefix(line, netnsLine); ok {
			namespaces[name] = true
			continue
		}
		if name, ok := strings.CutPrefix(line, "-"+netnsLine); ok {
			delete(namespaces, name)
			continue
		}
		if len(line) < 2 {
			continue
		}
		pgid, err := strconv.Atoi(line[1:])
		if err != nil || pgid <= 1 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pgid] = true
		case '-':
			delete(groups, pgid)
		}
	}
	if afterEOF != nil {
		afterEOF()
	}
	killed := map[string]bool{}
	// The cgroup first: killed in rounds until empty (frozen from the
	// second round on, see proc.KillCellTree), every descendant of
	// the run goes, wherever it went.
	for _, dir := range cells {
		if n := len(proc.CellTreeMembers(dir)); n > 0 {
			killed[fmt.Sprintf("%s of cgroup %s", processes(n), dir)] = true
		}
		if err := proc.KillCellTree(dir); err != nil {
			fmt.Fprintf(stderr, "scenario: reaper: %v\n", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	// A process in the middle of an exec shows no environment for an
	// instant: only two rounds in a row that find nothing end the hunt.
	// Between rounds it blocks until what it killed has exited.
	quiet := 0
	for {
		var running []int
		for pgid := range groups {
			if members := proc.GroupMembers(pgid); len(members) > 0 {
				killed["group "+strconv.Itoa(pgid)] = true
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				running = append(running, members...)
			}
		}
		for _, pid := range marked(mark) {
			killed["pid "+strconv.Itoa(pid)] = true
			_ = syscall.Kill(pid, syscall.SIGKILL)
			running = append(running, pid)
		}
		if len(running) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if quiet == 2 || !time.Now().Before(deadline) {
			break
		}
		_ = proc.AwaitExit(running, time.Until(deadline))
	}
	if len(killed) > 0 {
		var what []string
		for k := range killed {
			what = append(what, k)
		}
		sort.Strings(what)
		fmt.Fprintf(stderr, "scenario: the runner (pid %s) ended without stopping its processes; killed %s\n",
			runner, strings.Join(what, ", "))
	}
	// After the kill: a namespace with a process in it outlives its name.
	removeNamespaces(namespaces, runner, stderr)
	return 0
}

// removeNamespaces removes the named network namespaces still registered:
// a registered name that no longer exists is no error (it was registered
// just before its creation, which may not have happened).
func removeNamespaces(namespaces map[string]bool, runner string, stderr io.Writer) {
	var names []string
	for name := range namespaces {
		names = append(names, name)
	}
	sort.Strings(names)
	var removed []string
	for _, name := range names {
		existed, err := netns.RemoveNamed(name)
		if err != nil {
			fmt.Fprintf(stderr, "scenario: reaper: %v\n", err)
			continue
		}
		if existed {
			removed = append(removed, name)
		}
	}
	if len(removed) > 0 {
		fmt.Fprintf(stderr, "scenario: the runner (pid %s) ended without removing its network namespaces; removed %s\n",
			runner, strings.Join(removed, ", "))
	}
}

// marked lists the live processes whose environment holds MarkVar=mark,
// except scenario processes (this reaper; a --parallel child, which has a
// reaper of its own and cleans up on its parent's death) and zombies.
func marked(mark string) []int {
	if mark == "" {
		return nil
	}
	self, _ := os.Executable()
	return proc.Mark{Var: MarkVar, Value: mark}.Processes(func(pid int) bool {
		if pid == os.Getpid() {
			return true
		}
		exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		return err == nil && exe == self
	})
}
