package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
)

// A shell's background jobs, orphaned at once, end while the process that
// adopted them (a subreaper) runs on: it reaps them then, not only when it
// stops their group, so no zombie piles up under a long run.
func TestSubreaperReapsOrphansThatEndWhileItRuns(t *testing.T) {
	awaitOrphansReaped(t, 30, `(sh -c 'echo x >> %s' &)`, func(m procInfo, shell int) bool { return m.pgid == shell })
}

// An orphan that made a session of its own (setsid, as a daemon does)
// cannot be a child this process started (none leads a session), so it
// is reaped when it ends too.
func TestSubreaperReapsOrphansThatLeadASessionOfTheirOwn(t *testing.T) {
	awaitOrphansReaped(t, 10, `(setsid sh -c 'echo x >> %s' &)`, func(m procInfo, _ int) bool { return m.sid == m.pid })
}

// awaitOrphansReaped has a shell start n orphans with job (a format of
// the file each appends an x to as it ends), and waits,
// with a deadline, until all have ended and none of this process's
// zombies that mine says are the job's (given the shell's pid) is left.
func awaitOrphansReaped(t *testing.T, n int, job string, mine func(m procInfo, shell int) bool) {
	t.Helper()
	if err := BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	ended := filepath.Join(t.TempDir(), "ended")
	p := start(t, fmt.Sprintf("for i in $(seq %d); do "+fmt.Sprintf(job, ended)+"; done; exec sleep 100", n))
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(ended)
		var zombies []procInfo
		for _, m := range zombiesAmongAll(os.Getpid()) {
			if mine(m, p.Pid()) {
				zombies = append(zombies, m)
			}
		}
		if strings.Count(string(data), "x") == n && len(zombies) == 0 {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("%d of %d orphans ended; zombies left under this process: %+v", strings.Count(string(data), "x"), n, zombies)
		}
		select {
		case <-p.Done():
			t.Fatal("the shell ended")
		case <-time.After(10 * time.Millisecond): // a poll's interval, with a deadline
		}
	}
}

// A scenario's command, started with StartOwn, may move itself into
// another group of the session (here, into the group of a child it
// forked) and then exit: it looks like an adopted orphan by its group,
// but its exit status is still its own Wait's.
func TestACommandThatLeavesItsGroupKeepsItsExitStatus(t *testing.T) {
	testenv.Need(t, testenv.Program("perl"))
	if err := BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c := exec.Command("perl", "-e", `my $k = fork(); if (!$k) { setpgrp(0, 0); sleep 3; exit 0 } `+
			`select(undef, undef, undef, 0.02); setpgrp(0, $k) or die "setpgrp: $!"; exit 1`)
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := StartOwn(c.Start, func() int { return c.Process.Pid }); err != nil {
			t.Fatal(err)
		}
		if err := AwaitExit([]int{c.Process.Pid}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		m, ok := readStat(c.Process.Pid)
		if !ok || m.pgid == m.pid || !adopted(m, syscall.Getpgrp(), mySession()) {
			t.Fatalf("round %d: the command did not leave its group as the test means it to: %+v", i, m)
		}
		ReapOrphans()
		var exitErr *exec.ExitError
		if err := c.Wait(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
			t.Fatalf("round %d: Wait of a command that left its group and exited 1: %v", i, err)
		}
		ForgetOwn(c.Process.Pid)
		KillGroup(m.pgid) // its child's, which it joined
	}
}

// ReapOrphans tells the children this process starts from adopted orphans
// by their group: this process's, or their own. A child started in a
// session of its own or in another group would lose its exit status to
// it; no code of the module starts one.
func TestNoChildIsStartedInAnotherGroupOrSession(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, field := range []string{"Setsid:", "Setsid =", "Pgid:", "Pgid =", "Foreground:", "Foreground ="} {
			if strings.Contains(string(data), field) {
				t.Errorf("%s sets SysProcAttr.%s: ReapOrphans could take that child's exit status (see its comment)", path, strings.Fields(field)[0])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
