package proc

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Start(Spec{Name: "t", Argv: []string{"/bin/sh", "-c", script}, LogPath: filepath.Join(t.TempDir(), "t.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(0, closed()) })
	return p
}

func closed() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func groupAlive(pgid int) bool { return GroupRunning(pgid) }

func TestStopEndsTheWholeGroup(t *testing.T) {
	// The background child outlives its parent's SIGTERM unless the group
	// is killed, as socat's forked children do.
	p := start(t, `trap "" TERM; sleep 100 & echo started; wait`)
	waitForLog(t, p, "started")
	begin := time.Now()
	p.Stop(200*time.Millisecond, nil)
	if groupAlive(p.Pid()) {
		t.Fatal("process group still alive after Stop")
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Stop took %s", took)
	}
}

func TestForceSkipsTheGrace(t *testing.T) {
	p := start(t, `trap "" TERM; echo started; while :; do sleep 1; done`)
	waitForLog(t, p, "started")
	begin := time.Now()
	p.Stop(time.Minute, closed())
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("forced Stop took %s", took)
	}
}

func TestAliveReportsHowItEnded(t *testing.T) {
	p := start(t, "echo bye; exit 3")
	<-p.Done()
	err := p.Alive()
	if err == nil || !strings.Contains(err.Error(), `process "t" is not running: exited with status 3`) || !IsExit(err) {
		t.Fatalf("Alive() = %v", err)
	}
	if got := Tail(p.LogPath, 5); len(got) != 1 || got[0] != "bye" {
		t.Errorf("Tail = %q", got)
	}
}

func TestTailKeepsTheLastLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		b.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := Tail(path, 3)
	if strings.Join(got, ",") != "line 997,line 998,line 999" {
		t.Errorf("Tail = %q", got)
	}
	if Tail(filepath.Join(t.TempDir(), "missing"), 3) != nil {
		t.Error("Tail of a missing file is not empty")
	}
}

// waitForLog polls the log until it contains s (no fixed sleep).
func waitForLog(t *testing.T, p *Process, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(p.LogPath); strings.Contains(string(data), s) {
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("process ended before logging %q", s)
		case <-time.After(5 * time.Millisecond): // a poll's interval, with a deadline
		}
	}
	t.Fatalf("log never showed %q", s)
}

// A shell's background job outlives the shell; as a subreaper this
// process adopts it, and KillGroup kills and reaps it: neither a live
// process nor a zombie of the group is left.
func TestKillGroupReapsAdoptedOrphans(t *testing.T) {
	if err := BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	p := start(t, `sleep 100 & echo started`)
	<-p.Done()
	pgid := p.Pid()
	adopted := false
	for _, m := range groupProcs(pgid) {
		adopted = adopted || m.ppid == os.Getpid() && m.pid != pgid
	}
	if !adopted {
		t.Fatalf("the orphan was not adopted: %+v", groupProcs(pgid))
	}
	KillGroup(pgid)
	if left := groupProcs(pgid); len(left) > 0 {
		t.Errorf("left in the group (zombies included): %+v", left)
	}
}

// AwaitExit blocks until the processes exit, whoever their parent is (a
// grandchild here), and says when they did not within the timeout.
func TestAwaitExit(t *testing.T) {
	p := start(t, "sleep 31.7 & echo started $!; wait")
	waitForLog(t, p, "started")
	data, _ := os.ReadFile(p.LogPath)
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(data), "started ")))
	if err != nil {
		t.Fatalf("log %q: %v", data, err)
	}
	if err := AwaitExit([]int{pid}, 50*time.Millisecond); err == nil {
		t.Fatal("a running process counted as exited")
	}
	begin := time.Now()
	done := make(chan error, 1)
	go func() { done <- AwaitExit([]int{pid, p.Pid()}, 10*time.Second) }()
	KillGroup(p.Pid())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("took %s to notice the exits", took)
	}
	if err := AwaitExit([]int{pid}, time.Millisecond); err != nil {
		t.Errorf("an exited process: %v", err)
	}
}

// upperFilter holds everything back until Flush, then writes it in upper
// case: what a LogFilter writes is what the log gets, at the latest when
// the output ends.
type upperFilter struct {
	w       io.Writer
	pending []byte
}

func (u *upperFilter) Write(p []byte) (int, error) {
	u.pending = append(u.pending, p...)
	return len(p), nil
}
func (u *upperFilter) Flush() error {
	_, err := u.w.Write(bytes.ToUpper(u.pending))
	return err
}

func TestLogFilterSeesEveryByte(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.log")
	p, err := Start(Spec{Name: "t", Argv: []string{"/bin/sh", "-c", "echo one; printf two"}, LogPath: path,
		LogFilter: func(w io.Writer) LogFilter { return &upperFilter{w: w} }})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	p.Stop(time.Second, nil) // returns once the log is complete
	data, _ := os.ReadFile(path)
	if string(data) != "ONE\nTWO" || p.LogFailed() != nil {
		t.Errorf("log %q, %v", data, p.LogFailed())
	}
}
