package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/scenario-tool/scenario/netns"
	"github.com/scenario-tool/scenario/runner"
)

// runParallel runs each scenario as a child `scenario run` in a network
// namespace of its own, at most f.parallel at once. Every child has its
// own loopback, so scenarios keep their fixed ports (8500, 8181, 9191,
// 21000, ...) without colliding. Children report JSON events, which are
// passed to the observers. Where namespaces are not permitted, the
// scenarios run one by one in this process. Once stop says so, no further
// scenario starts; the results are those of the scenarios started, in
// order, and ended hears each as it ends.
func runParallel(ctx context.Context, scenarios []*runner.Scenario, f *runFlags, opts runner.Options,
	interrupted <-chan os.Signal, stderr io.Writer, stop func() bool, ended func(runner.Result)) []runner.Result {
	obs, consul := stamped{next: opts.Observer, consulVersion: opts.ConsulVersion, command: runner.Redact(opts.Command)}, opts.Consul
	self, err := os.Executable()
	if err == nil {
		err = netns.Permitted(exec.Command(self, "help"))
	}
	if err != nil {
		fmt.Fprintf(stderr, "scenario: network namespaces are not permitted here (%v); running the %d scenarios one by one\n", err, len(scenarios))
		return runner.InTurn(ctx, scenarios, opts, stop, ended)
	}

	var (
		live    = &childSet{running: map[*exec.Cmd]bool{}}
		results = make([]runner.Result, len(scenarios))
		started = make([]bool, len(scenarios))
		slots   = make(chan struct{}, f.parallel)
		wg      sync.WaitGroup
	)
	// Signals reach the children through us: the first asks them to stop,
	// the second to kill at once, as for a single run.
	go func() {
		for sig := range interrupted {
			live.signal(sig)
		}
	}()
	for i, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			if !stop() {
				started[i] = true
				results[i] = runChild(childCommand(self, sc, f, consul), sc, obs, stderr, live)
				ended(results[i])
			}
		}()
	}
	wg.Wait()
	var out []runner.Result
	for i, r := range results {
		if started[i] {
			out = append(out, r)
		}
	}
	return out
}

// stamped gives the events of children this run's command line (a
// child's own is internal) and Consul version (a child does not ask it
// again).
type stamped struct {
	next          runner.Observer
	command       string
	consulVersion func() string
}

func (s stamped) Observe(e runner.Event) {
	switch {
	case e.Event == "scenario-start":
		e.Command = s.command
	case e.Event == "scenario-end" && s.consulVersion != nil:
		e.ConsulVersion = s.consulVersion()
	}
	s.next.Observe(e)
}

// childSet is the children running now, for passing signals on.
type childSet struct {
	mu      sync.Mutex
	running map[*exec.Cmd]bool
	last    os.Signal
}

func (c *childSet) add(cmd *exec.Cmd) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[cmd] = true
	if c.last != nil { // a signal came while it was starting
		_ = cmd.Process.Signal(c.last)
	}
}

func (c *childSet) remove(cmd *exec.Cmd) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.running, cmd)
}

func (c *childSet) signal(sig os.Signal) {
	if sig == syscall.SIGPIPE {
		sig = syscall.SIGTERM // our stdout is gone, not theirs
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = sig
	for cmd := range c.running {
		_ = cmd.Process.Signal(sig)
	}
}

func childCommand(self string, sc *runner.Scenario, f *runFlags, consul string) *exec.Cmd {
	args := []string{"run", "--in-netns", "--logs", f.logs, "--consul", consul}
	if !f.deadline.IsZero() {
		args = append(args, "--deadline", strconv.FormatInt(f.deadline.UnixMilli(), 10))
	}
	if f.runPattern != "" {
		// The child loads the file again: the same steps are cut.
		args = append(args, "--run", f.runPattern)
	}
	args = append(args, "--", sc.File)
	cmd := exec.Command(self, args...)
	netns.Isolate(cmd)
	// A group of its own: a terminal's Ctrl-C reaches this process only,
	// which passes it on once (twice would kill at once).
	cmd.SysProcAttr.Setpgid = true
	return cmd
}

// runChild runs one child, forwarding its events, and derives the result
// from its scenario-end event.
func runChild(cmd *exec.Cmd, sc *runner.Scenario, obs runner.Observer, stderr io.Writer, live *childSet) runner.Result {
	res := runner.Result{Scenario: sc, Outcome: runner.Failed}
	out, err := cmd.StdoutPipe()
	if err == nil {
		cmd.Stderr = &prefixWriter{w: stderr, prefix: sc.Name + ": "}
		err = cmd.Start()
	}
	if err != nil {
		res.Err = err
		return res
	}
	live.add(cmd)
	defer live.remove(cmd)
	start := time.Now()
	sawEnd := false
	events := &lineReader{r: bufio.NewReaderSize(out, 64<<10), max: maxEventLine}
	var dropped error
	for {
		line, err := events.next()
		if err != nil {
			break
		}
		if line == nil {
			dropped = fmt.Errorf("the run of %s sent an event line of more than %d MiB, which was dropped: its report is incomplete", sc.File, maxEventLine>>20)
			fmt.Fprintf(stderr, "scenario: %s: %v\n", sc.Name, dropped)
			continue
		}
		var e runner.Event
		if err := json.Unmarshal(line, &e); err != nil {
			continue
		}
		e = runner.RedactEvent(e)
		if e.Event == "scenario-end" {
			sawEnd = true
			res.LogsDir = e.LogsDir
			switch e.Outcome {
			case runner.OutcomePassed:
				res.Outcome = runner.Passed
			case runner.OutcomeInterrupted:
				res.Outcome = runner.Interrupted
			}
			if dropped != nil && e.Outcome == runner.OutcomePassed {
				e.Outcome, e.Error, res.Outcome, res.Err = runner.OutcomeFailed, dropped.Error(), runner.Failed, dropped
			}
		}
		obs.Observe(e)
	}
	err = cmd.Wait()
	res.Duration = time.Since(start)
	var exitErr *exec.ExitError
	if !sawEnd {
		res.Err = fmt.Errorf("the run of %s ended without a result: %v", sc.File, err)
		obs.Observe(runner.Event{Event: "scenario-end", Time: time.Now(), Scenario: sc.Name, File: sc.File,
			Outcome: runner.OutcomeFailed, Error: res.Err.Error(), DurationMS: float64(res.Duration.Milliseconds())})
	} else if errors.As(err, &exitErr) && exitErr.ExitCode() == exitInterrupted {
		res.Outcome = runner.Interrupted
	}
	return res
}

// maxEventLine bounds one event line of a child. A longer line is read
// to its end and dropped, failing the scenario visibly; the child is never
// left blocked on a pipe nobody reads.
const maxEventLine = 16 << 20

// lineReader reads lines of at most max bytes; next returns nil (and no
// error) for a longer line, which it skips.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !tooLong {
			if len(l.buf)+len(chunk) > l.max {
				tooLong, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil && (tooLong || len(l.buf) == 0):
			return nil, err
		case tooLong:
			return nil, nil
		}
		return l.buf, nil
	}
}

// prefixWriter prefixes each line a child writes on stderr with its
// scenario's name.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	pending []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, b...)
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		fmt.Fprintf(p.w, "%s%s", p.prefix, p.pending[:i+1])
		p.pending = p.pending[i+1:]
	}
}
