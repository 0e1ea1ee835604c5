package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// execType is the exec step.
var execType = Typed(Type{
	Name:    "exec",
	Cluster: NotUndone("its command runs with the cluster's address and token, and what the command does is its own"),
	OnNode:  true,
	Summary: "runs a command to completion and checks its exit status and output (for example nc, as the demo did)",
	Example: `- exec: {command: "printf 'hi\n' | nc -w 2 127.0.0.1 9191", stdout: "^hi\n$"}`,
	Timeout: 60 * time.Second,
}, buildExec)

// ExecSpec is the value of an exec step.
type ExecSpec struct {
	Command spec.Command `key:"command,required" doc:"a string (run by /bin/sh -c) or a list (executed directly)"`
	Exit    int          `key:"exit" min:"0" max:"255" default:"0" doc:"the exit status expected"`
	Stdout  spec.Pattern `key:"stdout" doc:"a regular expression (RE2) the standard output must match somewhere; anchor it (^...$) to mean all of it"`
}

type execStep struct {
	argv   []string
	exit   int
	stdout *regexp.Regexp
}

func buildExec(_ *spec.Decoder, val *ExecSpec, _ *spec.Fields) Step {
	return &execStep{argv: val.Command, exit: val.Exit, stdout: val.Stdout.Regexp}
}

func (s *execStep) String() string {
	if len(s.argv) == 3 && s.argv[0] == "/bin/sh" {
		return s.argv[2]
	}
	return strings.Join(s.argv, " ")
}

// StepLogs is implemented by an Env that gives steps log files of their
// own (the runner's session does): exec writes the whole output of its
// commands there, and keeps only the start of it in memory.
type StepLogs interface {
	// OpenLog opens the log called name for appending, after a header
	// line naming command, and returns it with its path. What is written
	// may be changed on its way (the runner hides secrets) and held back
	// until Close.
	OpenLog(name, command string) (io.WriteCloser, string, error)
}

// OutputKept is how much of each of a command's stdout and stderr exec
// keeps in memory to match and to show; the rest is only in its log.
const OutputKept = 1 << 20

func (s *execStep) Run(ctx context.Context, env Env) error {
	log := &logWriter{w: io.Discard}
	closeLog := func() {}
	if sl, ok := env.(StepLogs); ok {
		f, path, err := sl.OpenLog("exec", s.String())
		if err != nil {
			return fmt.Errorf("opening the log of exec steps: %w", err)
		}
		var once sync.Once
		// Closing writes what the log held back: before its errors are
		// looked at, and at the latest on return.
		closeLog = func() {
			once.Do(func() {
				log.fail(f.Close())
			})
		}
		defer closeLog()
		log.w, log.path = f, path
	}
	stdout, stderr := &capture{log: log}, &capture{log: log}
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	// Its own group, so that a timeout kills the pipeline, not just sh,
	// and so that what it left running in the background goes when it
	// returns.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pipes this step reads itself rather than through exec's copying,
	// whose Wait would wait for every background child holding them.
	cmd.Dir, cmd.Env = env.CommandEnv()
	// What it starts in a session of its own goes too: by its mark.
	family := proc.NewFamily()
	cmd.Env = proc.WithFamily(cmd.Env, family)
	// And what it starts whatever it does (clears its environment too): by
	// its cgroup, where there are cgroups (see proc.Cell).
	launch := env.Inside
	cell, _ := proc.NewCell("exec")
	if cell != nil {
		defer func() { _ = cell.Kill() }()
		launch = func(start func() error) error {
			return env.Inside(func() error { return cell.Fork(start) })
		}
	}
	copied, err := startWithPipes(cmd, stdout, stderr, launch)
	if err != nil {
		return fmt.Errorf("running %q: %w", s, err)
	}
	pgid := cmd.Process.Pid
	if g := env.Guardian(); g != nil {
		g.Watch(pgid)
		defer g.Unwatch(pgid) // after the kills below
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		proc.ForgetOwn(pgid)
		exited <- err
	}()
	select {
	case err = <-exited:
	case <-ctx.Done():
		// The command itself too: it may have left its group.
		proc.KillGroup(pgid)
		_ = cmd.Process.Kill()
		err = <-exited
	}
	proc.KillGroup(pgid)
	proc.KillFamily(family)
	if cell != nil {
		_ = cell.Kill()
	}
	copied()
	closeLog()
	if ctx.Err() != nil {
		return fmt.Errorf("%q did not finish in time: %w; stdout %s, stderr %s", s, ctx.Err(), stdout, stderr)
	}
	if log.err != nil {
		return fmt.Errorf("%q: writing its output to %s failed: %w; free some space or point --logs at another disk", s, log.path, log.err)
	}
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		return fmt.Errorf("running %q: %w", s, err)
	}
	if code != s.exit {
		got := fmt.Sprintf("exit status %d", code)
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			got = "killed by signal " + ws.Signal().String()
		}
		return fmt.Errorf("expected exit status %d, got %s; stdout %s, stderr %s", s.exit, got, stdout, stderr)
	}
	if s.stdout != nil && !s.stdout.Match(stdout.head) {
		return fmt.Errorf("expected stdout to match %q, got %s", s.stdout, stdout)
	}
	return nil
}

// startWithPipes starts cmd with its stdout and stderr read into the
// captures. copied waits until both pipes ended, which happens once the
// command's group is gone; a process that left the group may still hold
// them, so the wait is bounded.
func startWithPipes(cmd *exec.Cmd, stdout, stderr *capture, launch func(func() error) error) (copied func(), err error) {
	var readers, writers []*os.File
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range append(readers, writers...) {
				f.Close()
			}
			return nil, err
		}
		readers, writers = append(readers, r), append(writers, w)
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]
	// On a node, the command is forked from a thread in its namespace.
	// Recorded as the runner's own: the command may leave its group, and
	// its exit status is still this step's Wait's, not the orphan reaper's.
	err = launch(func() error { return proc.StartOwn(cmd.Start, func() int { return cmd.Process.Pid }) })
	for _, w := range writers {
		w.Close()
	}
	if err != nil {
		for _, r := range readers {
			r.Close()
		}
		return nil, err
	}
	done := make(chan struct{}, 2)
	for i, c := range []*capture{stdout, stderr} {
		go func() {
			_, _ = io.Copy(c, readers[i])
			done <- struct{}{}
		}()
	}
	return func() {
		timer := time.NewTimer(time.Second)
		defer timer.Stop()
		for range 2 {
			select {
			case <-done:
			case <-timer.C:
				for _, r := range readers {
					r.Close() // ends the copies
				}
				<-done
			}
		}
		for _, r := range readers {
			r.Close()
		}
	}, nil
}

// logWriter is the exec log, shared by stdout and stderr; it remembers
// its first write error and writes nothing after it.
type logWriter struct {
	mu   sync.Mutex
	w    io.Writer
	path string
	err  error
}

// fail records err (if any) unless an earlier write failed.
func (l *logWriter) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

func (l *logWriter) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		_, l.err = l.w.Write(p)
	}
}

// capture keeps the first OutputKept bytes of a stream and counts the
// rest, passing everything on to the log.
type capture struct {
	log   *logWriter
	head  []byte
	total int64
}

func (c *capture) Write(p []byte) (int, error) {
	c.log.write(p)
	c.total += int64(len(p))
	if room := OutputKept - len(c.head); room > 0 {
		c.head = append(c.head, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// String shows the output quoted, saying when it was cut.
func (c *capture) String() string {
	q := Quote(c.head)
	if c.total > int64(len(c.head)) {
		where := ""
		if c.log.path != "" {
			where = "; all of it is in " + c.log.path
		}
		q += fmt.Sprintf(" (cut: %d bytes in all, the first %d kept%s)", c.total, len(c.head), where)
	}
	return q
}
