package proc

import (
	"bytes"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

var reapingOrphans sync.Once

// Children this process started itself and waits for: never reaped as
// orphans, whatever group they move to (a group leader may join another
// group of its session). startingOwn is held for reading while one is
// started and recorded, and for writing while orphans are reaped, so that
// a child that ends before it is recorded is not taken for an orphan.
var (
	startingOwn sync.RWMutex
	ownMu       sync.Mutex
	own         = map[int]bool{}
)

// StartOwn runs start, which starts a child whose exit status this
// process's own Wait takes, and records the child (pid, once start
// returns): the orphan reaper leaves it alone until ForgetOwn.
func StartOwn(start func() error, pid func() int) error {
	startingOwn.RLock()
	defer startingOwn.RUnlock()
	if err := start(); err != nil {
		return err
	}
	ownMu.Lock()
	own[pid()] = true
	ownMu.Unlock()
	return nil
}

// ForgetOwn says that the child pid started with StartOwn has been waited
// for: its pid may be another process's from now on.
func ForgetOwn(pid int) {
	ownMu.Lock()
	delete(own, pid)
	ownMu.Unlock()
}

func isOwn(pid int) bool {
	ownMu.Lock()
	defer ownMu.Unlock()
	return own[pid]
}

// reapOrphansAsTheyEnd reaps adopted orphans (see ReapOrphans) each time a
// child ends, for as long as this process lives: a subreaper that never
// waits for them collects a zombie per connection a forking server (socat
// fork) served.
func reapOrphansAsTheyEnd() {
	reapingOrphans.Do(func() {
		ended := make(chan os.Signal, 1) // SIGCHLDs that come at once are one scan
		signal.Notify(ended, syscall.SIGCHLD)
		go func() {
			ReapOrphans() // those that ended before the signal was heard
			for range ended {
				ReapOrphans()
			}
		}()
	})
}

// ReapOrphans reaps the zombies among this process's children that it
// adopted as a subreaper, and returns how many it reaped. It leaves alone
// the children it started itself, whose exit status their own Wait
// (os/exec's, Process's) must get: a scenario's commands, which may move
// to another group of the session (setpgid), are recorded by StartOwn;
// every other child stays in this process's group or leads one of its
// own in this session (Setpgid), and a group leader cannot make a session
// (setsid fails for it). So a child that is unrecorded and in another
// group it does not lead, or leads a session of its own (setsid), is a
// descendant's orphan. An orphan that leads a group of its own (setpgid)
// in this session cannot be told from a child started here: it is left
// to its group's stop (KillGroup, KillFamily).
func ReapOrphans() int {
	startingOwn.Lock()
	defer startingOwn.Unlock()
	reaped := 0
	for _, m := range childZombies(os.Getpid()) {
		if adopted(m, syscall.Getpgrp(), mySession()) && reapOrphan(m.pid) {
			reaped++
		}
	}
	return reaped
}

// reapOrphan reaps pid if it is still a zombie child of this process
// that it adopted, not one recorded by StartOwn (the caller holds
// startingOwn for writing), never one it started (see
// ReapOrphans), and says whether it did. The pidfd holds on to this very
// process: once checked, its pid cannot have been reused by a child
// started meanwhile, whose exit status would otherwise be taken.
func reapOrphan(pid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	again, ok := readStat(pid)
	if !ok || again.state != "Z" || again.ppid != os.Getpid() || !adopted(again, syscall.Getpgrp(), mySession()) || isOwn(pid) {
		return false
	}
	var info unix.Siginfo
	return unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil) == nil
}

// adopted says whether m, a child of this process (whose group and
// session are given), can only be an adopted orphan.
func adopted(m procInfo, group, session int) bool {
	return m.pgid != m.pid && m.pgid != group || m.sid == m.pid && m.sid != session
}

// mySession is this process's session id.
func mySession() int {
	sid, _ := unix.Getsid(0)
	return sid
}

// childZombies lists the zombies among this process's children (whose
// pid is self). The kernel lists each thread's children, adopted ones
// included, in /proc/self/task/TID/children: reading those, and the stat
// of each child, costs far less than reading every process's stat, which
// a SIGCHLD per connection of a forking server would repeat. A child stays
// on its list until it is reaped; a long list takes several reads, each
// a page at most, so each list is read to its end. Without those lists
// (a kernel without CONFIG_PROC_CHILDREN), every process is looked at.
func childZombies(self int) []procInfo {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return zombiesAmongAll(self)
	}
	var out []procInfo
	for _, task := range tasks {
		list, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			if os.IsNotExist(err) {
				if _, terr := os.Stat("/proc/self/task/" + task.Name()); terr != nil {
					continue // the thread has ended
				}
				return zombiesAmongAll(self)
			}
			continue
		}
		for _, field := range strings.Fields(string(list)) {
			pid, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			if m, ok := readStat(pid); ok && m.state == "Z" && m.ppid == self {
				out = append(out, m)
			}
		}
	}
	return out
}

// zombiesAmongAll lists the zombies whose parent is ppid, from every
// process's stat.
func zombiesAmongAll(ppid int) []procInfo {
	return processesWhere(func(m procInfo) bool { return m.state == "Z" && m.ppid == ppid })
}

// readStat reads pid's state, parent and group from /proc/PID/stat.
func readStat(pid int) (procInfo, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	// "pid (comm) state ppid pgrp session ..."; comm may hold spaces.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 4 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(fields[1])
	pgid, _ := strconv.Atoi(fields[2])
	sid, _ := strconv.Atoi(fields[3])
	return procInfo{pid: pid, ppid: ppid, pgid: pgid, sid: sid, state: fields[0]}, true
}
