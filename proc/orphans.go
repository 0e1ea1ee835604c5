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
// (os/exec's, Process's) must get: every child this process starts is
// either in this process's group or leads a group of its own (Setpgid),
// and a group leader cannot leave its group (setsid fails for it), so a
// child that is neither, and is not in this process's group, is a
// descendant's orphan. An orphan that leads a group or session of its own
// (setsid) cannot be told from a child started here: it is left to its
// group's stop (KillGroup, KillFamily).
func ReapOrphans() int {
	self, group := os.Getpid(), syscall.Getpgrp()
	reaped := 0
	for _, m := range childZombies(self) {
		if !adopted(m, group) {
			continue
		}
		// The pidfd holds on to this very process: its pid cannot be
		// reused by a child started meanwhile, once it has been checked.
		fd, err := unix.PidfdOpen(m.pid, 0)
		if err != nil {
			continue
		}
		if again, ok := readStat(m.pid); ok && again.state == "Z" && again.ppid == self && adopted(again, group) {
			var info unix.Siginfo
			if unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil) == nil {
				reaped++
			}
		}
		unix.Close(fd)
	}
	return reaped
}

// adopted says whether m, a child of this process (whose group is group),
// can only be an adopted orphan.
func adopted(m procInfo, group int) bool {
	return m.pgid != m.pid && m.pgid != group
}

// childZombies lists the zombies among this process's children (whose
// pid is self). The kernel lists each thread's children, adopted ones
// included, in /proc/self/task/TID/children: reading those, and the stat
// of each child, costs far less than reading every process's stat, which
// a SIGCHLD per connection of a forking server would repeat. A child stays
// on its list until it is reaped; each list is read in one read(2), as the
// kernel builds one read from one walk of the list. Without those lists
// (a kernel without CONFIG_PROC_CHILDREN), every process is looked at.
func childZombies(self int) []procInfo {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return zombiesAmongAll(self)
	}
	var out []procInfo
	buf := make([]byte, 64<<10)
	for _, task := range tasks {
		f, err := os.Open("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			if os.IsNotExist(err) {
				return zombiesAmongAll(self)
			}
			continue // the thread has ended
		}
		n, _ := f.Read(buf)
		f.Close()
		for _, field := range strings.Fields(string(buf[:n])) {
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
	entries, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if m, ok := readStat(pid); ok && m.state == "Z" && m.ppid == ppid {
			out = append(out, m)
		}
	}
	return out
}

// readStat reads pid's state, parent and group from /proc/PID/stat.
func readStat(pid int) (procInfo, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	// "pid (comm) state ppid pgrp ..."; comm may hold spaces.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 3 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(fields[1])
	pgid, _ := strconv.Atoi(fields[2])
	return procInfo{pid: pid, ppid: ppid, pgid: pgid, state: fields[0]}, true
}
