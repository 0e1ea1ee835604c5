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
package reaper

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scenario-tool/scenario/proc"
)

// Arg is the hidden command line argument that runs the reaper.
const Arg = "__reaper"

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
	cmd := exec.Command(exe, Arg, strconv.Itoa(os.Getpid()))
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

func (r *Reaper) send(op byte, pgid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken {
		return
	}
	// One short write is atomic on a pipe; the reaper reads line by line.
	if _, err := fmt.Fprintf(r.pipe, "%c%d\n", op, pgid); err != nil {
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

// Serve is the reaper's main: it reads registrations from in until in
// ends, then kills every group still registered, waits (boundedly) until
// none of their members runs, and returns the exit status.
func Serve(in io.Reader, stderr io.Writer, runner string) int {
	// The reaper must outlive whatever ends the runner: a terminal's
	// hangup, Ctrl-C sent to the whole session, a closed stderr.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE)
	// Orphans of the groups below may be reparented here only if the
	// reaper is their ancestor; it is not, but being a subreaper costs
	// nothing and covers a runner started through it.
	_ = proc.BecomeSubreaper()
	groups := map[int]bool{}
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		line := lines.Text()
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
	if len(groups) == 0 {
		return 0
	}
	var killed []string
	for pgid := range groups {
		if proc.GroupRunning(pgid) {
			killed = append(killed, strconv.Itoa(pgid))
		}
	}
	sort.Strings(killed)
	deadline := time.Now().Add(5 * time.Second)
	for {
		running := 0
		for pgid := range groups {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if proc.GroupRunning(pgid) {
				running++
			}
		}
		if running == 0 || time.Now().After(deadline) {
			break
		}
		timer := time.NewTimer(5 * time.Millisecond)
		<-timer.C
	}
	if len(killed) > 0 {
		fmt.Fprintf(stderr, "scenario: the runner (pid %s) ended without stopping its processes; killed process groups %s\n",
			runner, strings.Join(killed, ", "))
	}
	return 0
}
