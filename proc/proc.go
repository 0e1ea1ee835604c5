// Package proc starts processes in their own process group and cgroup (a
// Cell), logs their output to a file, and stops the whole family: consul
// connect proxies keep running after their agent dies, socat's forked
// children survive a SIGTERM to their parent, and a daemon leaves its
// group, so stopping only the leader leaks processes.
package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spec says what to start.
type Spec struct {
	Name    string   // how the scenario refers to it: "agent", "socat", "sidecar/web"
	Argv    []string // executed directly
	Dir     string   // working directory; empty for the caller's
	Env     []string // the environment; nil for the caller's
	LogPath string   // stdout and stderr go here
	// LogFilter, when set, is what the output goes through on its way to
	// the log (the runner hides secrets there, line by line); its Flush
	// writes what it held back once the output ends.
	LogFilter func(log io.Writer) LogFilter
	// Group, when set, is the group ID the process runs with (its user
	// stays this process's): a lab's kernel tags the frames of its
	// sockets by it (topology.AgentGroup, topology.ProxyGroup).
	Group uint32
	// Launch, when set, is called with the function that starts the
	// command, so that it can run it in another context: a node's network
	// namespace, which a child inherits from the thread that forks it.
	Launch func(start func() error) error
	// Guardian, when set, hears of the process group from its start until
	// Stop has killed it, to kill it if this process dies first.
	Guardian Guardian
}

// LogFilter changes a process's output on its way to the log. It may hold
// back a partial line until its end.
type LogFilter interface {
	io.Writer
	Flush() error
}

// Process is a running (or finished) process group.
type Process struct {
	Name    string
	LogPath string
	Argv    []string
	cmd     *exec.Cmd
	family  string // FamilyVar's value in its environment
	cell    *Cell  // its cgroup, holding everything it starts; nil without cgroups
	// guardian heard of the group at Start and forgets it once killed.
	guardian Guardian
	reaped   chan struct{} // closed once the leader's Wait has returned
	done     chan struct{}
	waitErr  error
	logged   chan struct{} // closed once the log has its last byte
	logErr   atomic.Pointer[LogError]
}

// Start starts spec's command as the leader of a new process group. Its
// output reaches the log through a pipe that this process copies, so that
// a failing write (a full disk) is noticed and reported instead of
// silently truncating the log, and so that spec.LogFilter sees every byte
// before the file does; the group is reported to spec.Guardian.
func Start(spec Spec) (*Process, error) {
	if len(spec.Argv) == 0 {
		return nil, fmt.Errorf("%s: empty command", spec.Name)
	}
	log, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, LogMode)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", spec.Name, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	family := NewFamily()
	cmd.Env = WithFamily(spec.Env, family)
	cmd.Stdout = w
	cmd.Stderr = w
	// Setpgid: a terminal's Ctrl-C must reach the runner only, which then
	// stops everything in order. Pdeathsig: if the runner itself is killed
	// with SIGKILL, the leader does not outlive it (the guardian kills the
	// rest of the group: a shell's forked children never see this signal).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if spec.Group != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: spec.Group, NoSetGroups: true}
	}
	// Born in a cell of its own, the process cannot take anything it
	// starts out of the kernel's reach (see Cell). Without cgroups (not
	// root), its group and family mark are all there is.
	cell, _ := NewCell(spec.Name)
	// Recorded as this process's own: a command may leave its group, and
	// its exit status is still its Wait's, not the orphan reaper's.
	start := func() error { return StartOwn(cmd.Start, func() int { return cmd.Process.Pid }) }
	switch {
	case cell != nil && spec.Launch != nil:
		err = spec.Launch(func() error { return cell.Fork(start) })
	case cell != nil:
		err = cell.ForkOnOwnThread(start)
	case spec.Launch != nil:
		err = spec.Launch(start)
	default:
		err = start()
	}
	w.Close()
	if err != nil {
		r.Close()
		log.Close()
		if cell != nil {
			if cmd.Process != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				ForgetOwn(cmd.Process.Pid)
			}
			_ = cell.Kill()
		}
		return nil, fmt.Errorf("%s: start %q: %w", spec.Name, spec.Argv[0], err)
	}
	watch(spec.Guardian, cmd.Process.Pid)
	p := &Process{Name: spec.Name, LogPath: spec.LogPath, Argv: spec.Argv, cmd: cmd, family: family, cell: cell, guardian: spec.Guardian,
		reaped: make(chan struct{}), done: make(chan struct{}), logged: make(chan struct{})}
	go func() {
		defer close(p.logged)
		defer r.Close()
		defer log.Close()
		var dst io.Writer = log
		var filter LogFilter
		if spec.LogFilter != nil {
			filter = spec.LogFilter(log)
			dst = filter
		}
		err := CopyLog(dst, r)
		if filter != nil && err == nil {
			if err = filter.Flush(); err != nil {
				err = fmt.Errorf("writing its log failed, the rest of its output is lost: %w", err)
			}
		}
		if err != nil {
			p.logErr.Store(&LogError{Name: spec.Name, LogPath: spec.LogPath, Err: err})
		}
	}()
	go func() {
		p.waitErr = cmd.Wait()
		ForgetOwn(cmd.Process.Pid)
		close(p.reaped)
		// What the leader wrote last explains how it ended: give the
		// copy a moment to get it into the log (members left in the group
		// may hold the pipe open longer).
		select {
		case <-p.logged:
		case <-time.After(logSettle):
		}
		close(p.done)
	}()
	return p, nil
}

// LogMode and DirMode keep logs private: they may hold what a process
// printed about its configuration.
const (
	LogMode os.FileMode = 0o600
	DirMode os.FileMode = 0o700
)

// CopyLog copies r to log until r ends. After a failed write it keeps
// reading, so that the writer never blocks on a full pipe, and returns the
// first write error once r ends.
func CopyLog(log io.Writer, r io.Reader) error {
	buf := make([]byte, 32<<10)
	var werr error
	for {
		n, err := r.Read(buf)
		if n > 0 && werr == nil {
			if _, werr = log.Write(buf[:n]); werr != nil {
				werr = fmt.Errorf("writing its log failed, the rest of its output is lost: %w", werr)
			}
		}
		if err != nil {
			return werr
		}
	}
}

// LogError says that a process's output could not be written to its log.
type LogError struct {
	Name, LogPath string
	Err           error
}

func (e *LogError) Error() string {
	return fmt.Sprintf("process %q: %v (log: %s); free some space or point --logs at another disk", e.Name, e.Err, e.LogPath)
}

func (e *LogError) Unwrap() error { return e.Err }

// LogFailed returns the error of a failed write to the log, if any.
func (p *Process) LogFailed() error {
	if e := p.logErr.Load(); e != nil {
		return e
	}
	return nil
}

// Pid is the leader's pid, which is also the process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the leader has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Alive returns nil while the leader runs, else an error naming the process
// and how it ended, so that a step waiting on it can fail at once.
// A process whose log can no longer be written fails too: the evidence a
// run leaves would be incomplete.
func (p *Process) Alive() error {
	select {
	case <-p.done:
		return &ExitError{Name: p.Name, State: p.cmd.ProcessState, LogPath: p.LogPath}
	default:
		return p.LogFailed()
	}
}

// ExitError says that a process the scenario relies on is no longer running.
type ExitError struct {
	Name    string
	State   *os.ProcessState
	LogPath string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("process %q is not running: %s (log: %s)", e.Name, describeExit(e.State), e.LogPath)
}

func describeExit(s *os.ProcessState) string {
	if s == nil {
		return "exit status unknown"
	}
	if ws, ok := s.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exited with status %d", s.ExitCode())
}

// Stop ends the process group: SIGTERM, then SIGKILL once grace has passed or
// force is closed (when force is closed already, SIGKILL at once: nothing
// would use the grace). The group, its cell and its strays are always
// killed at the end, so children that ignored SIGTERM or outlived their
// leader go too. Stop returns once the leader has been reaped, no member
// of the family runs and its cell is removed.
func (p *Process) Stop(grace time.Duration, force <-chan struct{}) {
	select {
	case <-force:
	default:
		pgid := p.Pid()
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		// Members that left the group (a daemon) are asked too.
		for _, pid := range p.cellMembers() {
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid != p.Pid() {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
		case <-force:
		}
	}
	p.kill()
	<-p.done
	// The log is complete once every writer is gone; a member that left
	// the group could hold the pipe open, so this wait is bounded.
	select {
	case <-p.logged:
	case <-time.After(killSettle):
	}
}

// kill ends p's whole family, and returns once none of it runs and its
// cell is removed. The search for strays (a look at every process's
// environment) goes on beside the wait for the kernel to end what was
// killed, which it cannot shorten; a stray outside the group and the cell
// is killed before kill returns all the same.
func (p *Process) kill() {
	pgid := p.Pid()
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	strays := make(chan struct{})
	go func() {
		defer close(strays)
		p.killStrays()
	}()
	// Every member of the cell has exited when this returns, the leader
	// too, which its Wait then reaps at once. (A leader that left its
	// group and its cell is a stray, killed beside.)
	p.killCell()
	<-p.reaped
	// With the leader reaped, a group with no member left answers at
	// once; one with members (orphans to reap, a member that left the
	// cell) is searched.
	KillGroup(pgid)
	unwatch(p.guardian, pgid)
	<-strays
}

// KillGroup sends SIGKILL to group pgid and waits (boundedly) until no
// member still runs, so that its ports are free when it returns. Members
// orphaned to this process (a subreaper) are reaped. The caller tells
// its guardian, if any, that the group is gone.
func KillGroup(pgid int) {
	// SIGKILL is delivered asynchronously, and a member may fork while it
	// is: each round kills the group, scans it once (reaping the adopted
	// zombies and finding the members still running), then blocks until
	// those have exited.
	self := os.Getpid()
	deadline := time.Now().Add(killSettle)
	for {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if syscall.Kill(-pgid, 0) == syscall.ESRCH {
			break // not even a zombie left
		}
		var running []int
		for _, m := range groupProcs(pgid) {
			switch {
			case m.state != "Z" || !threadGroupExited(m.pid):
				running = append(running, m.pid)
			case m.ppid == self && m.pid != pgid:
				// Orphaned to this process (a subreaper): reaped here. The
				// leader is not; its Wait does that.
				startingOwn.Lock()
				reapOrphan(m.pid)
				startingOwn.Unlock()
			}
		}
		if len(running) == 0 || !time.Now().Before(deadline) {
			break
		}
		_ = AwaitExit(running, time.Until(deadline))
	}
}

// AwaitExit blocks until every process of pids has exited (become a
// zombie or gone), or timeout passes, and reports whether they all did. It
// waits on pidfds, which become readable when their process exits,
// whichever process is its parent (Linux 5.3 or later).
func AwaitExit(pids []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var fds []unix.PollFd
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err == unix.ESRCH {
			continue // gone already
		}
		if err != nil {
			return fmt.Errorf("pidfd_open(%d): %w", pid, err)
		}
		defer unix.Close(fd)
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for len(fds) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%d of %d processes still running after %s", len(fds), len(pids), timeout)
		}
		_, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		waiting := fds[:0]
		for _, f := range fds {
			if f.Revents == 0 {
				waiting = append(waiting, f)
			}
		}
		fds = waiting
	}
	return nil
}

// AwaitPidfd blocks until the process of pidfd fd has exited, or timeout
// passes.
func AwaitPidfd(fd int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("still running after %s", timeout)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		switch {
		case err == unix.EINTR:
		case err != nil:
			return fmt.Errorf("poll: %w", err)
		case n > 0:
			return nil
		}
	}
}

// logSettle bounds the wait for a dead leader's last output.
const logSettle = 200 * time.Millisecond

// killSettle bounds the wait for a killed group's members to exit.
const killSettle = 2 * time.Second

// GroupRunning reports whether a process of group pgid is still running.
func GroupRunning(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil && len(GroupMembers(pgid)) > 0
}

// GroupMembers lists the running processes of group pgid, from /proc. A
// killed member stays a zombie until it is reaped; a zombie whose every
// thread has exited holds no ports or files, so it is left out (one whose
// leader thread alone has exited runs on, and is listed).
func GroupMembers(pgid int) []int {
	var pids []int
	for _, m := range groupProcs(pgid) {
		if m.state != "Z" || !threadGroupExited(m.pid) {
			pids = append(pids, m.pid)
		}
	}
	return pids
}

type procInfo struct {
	pid, ppid, pgid, sid int
	state                string
}

// groupProcs lists every process of group pgid, zombies included. The
// kernel is asked each process's group (getpgid: one system call, where
// formatting and parsing a /proc/PID/stat costs ten times as much), and
// only the members' stat is read.
func groupProcs(pgid int) []procInfo {
	var out []procInfo
	for pid := range listedPIDs() {
		if g, err := unix.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		if m, ok := readStat(pid); ok && m.pgid == pgid {
			out = append(out, m)
		}
	}
	return out
}

// listedPIDs yields the pid of every process /proc lists now.
func listedPIDs() iter.Seq[int] {
	return func(yield func(int) bool) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil && !yield(pid) {
				return
			}
		}
	}
}

// processesWhere lists the processes, zombies included, of which keep
// says yes, from every process's stat.
func processesWhere(keep func(procInfo) bool) []procInfo {
	var out []procInfo
	for pid := range listedPIDs() {
		if m, ok := readStat(pid); ok && keep(m) {
			out = append(out, m)
		}
	}
	return out
}

// Tail returns up to n last lines of the file at path.
func Tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	// Logs can be large; the tail is within the last 64 KiB in practice.
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(-window, io.SeekEnd)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), window)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// IsExit reports whether err says a process has ended.
func IsExit(err error) bool {
	var e *ExitError
	return errors.As(err, &e)
}
