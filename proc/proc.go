// Package proc starts processes in their own process group, logs their
// output to a file, and stops the whole group: consul connect proxies keep
// running after their agent dies and socat's forked children survive a
// SIGTERM to their parent, so stopping only the leader leaks processes.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec says what to start.
type Spec struct {
	Name    string   // how the scenario refers to it: "agent", "socat", "sidecar/web"
	Argv    []string // executed directly
	Dir     string   // working directory; empty for the caller's
	Env     []string // the environment; nil for the caller's
	LogPath string   // stdout and stderr go here
}

// Process is a running (or finished) process group.
type Process struct {
	Name    string
	LogPath string
	Argv    []string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	waitErr error
}

// Start starts spec's command as the leader of a new process group.
func Start(spec Spec) (*Process, error) {
	if len(spec.Argv) == 0 {
		return nil, fmt.Errorf("%s: empty command", spec.Name)
	}
	log, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.Stdout = log
	cmd.Stderr = log
	// Setpgid: a terminal's Ctrl-C must reach the runner only, which then
	// stops everything in order. Pdeathsig: if the runner itself is killed
	// with SIGKILL, the leader does not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("%s: start %q: %w", spec.Name, spec.Argv[0], err)
	}
	p := &Process{Name: spec.Name, LogPath: spec.LogPath, Argv: spec.Argv, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the leader's pid, which is also the process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the leader has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Alive returns nil while the leader runs, else an error naming the process
// and how it ended, so that a step waiting on it can fail at once.
func (p *Process) Alive() error {
	select {
	case <-p.done:
		return &ExitError{Name: p.Name, State: p.cmd.ProcessState, LogPath: p.LogPath}
	default:
		return nil
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
// force is closed. The group is always sent SIGKILL at the end, so children
// that ignored SIGTERM or outlived their leader go too. Stop returns once the
// leader has been reaped.
func (p *Process) Stop(grace time.Duration, force <-chan struct{}) {
	pgid := p.Pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
	case <-force:
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	// SIGKILL is delivered asynchronously: wait until no member of the group
	// still runs, so that its ports are free when Stop returns.
	deadline := time.Now().Add(killSettle)
	for GroupRunning(pgid) && time.Now().Before(deadline) {
		timer := time.NewTimer(5 * time.Millisecond)
		<-timer.C
	}
}

// killSettle bounds the wait for a killed group's members to exit.
const killSettle = 2 * time.Second

// GroupRunning reports whether a process of group pgid is still running.
func GroupRunning(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil && len(GroupMembers(pgid)) > 0
}

// GroupMembers lists the running processes of group pgid, from /proc. A
// killed member stays a zombie until it is reaped; a zombie holds no ports
// or files, so it is left out.
func GroupMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	want := strconv.Itoa(pgid)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid pgrp ..."; comm may hold spaces.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 2 && fields[2] == want && fields[0] != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
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
