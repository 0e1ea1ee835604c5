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
	if err := BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	const orphans = 30
	ended := filepath.Join(t.TempDir(), "ended")
	p := start(t, fmt.Sprintf(`for i in $(seq %d); do (sh -c 'echo x >> %s' &); done; exec sleep 100`, orphans, ended))
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(ended)
		var zombies []procInfo
		for _, m := range groupProcs(p.Pid()) {
			if m.state == "Z" && m.ppid == os.Getpid() {
				zombies = append(zombies, m)
			}
		}
		if strings.Count(string(data), "x") == orphans && len(zombies) == 0 {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("%d of %d orphans ended; zombies left under this process: %+v", strings.Count(string(data), "x"), orphans, zombies)
		}
		select {
		case <-p.Done():
			t.Fatal("the shell ended")
		case <-time.After(10 * time.Millisecond): // a poll's interval, with a deadline
		}
	}
}

// An orphan that made a session of its own (setsid, as a daemon does)
// cannot be a child this process started (none leads a session), so it
// is reaped when it ends too.
func TestSubreaperReapsOrphansThatLeadASessionOfTheirOwn(t *testing.T) {
	if err := BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	const orphans = 10
	ended := filepath.Join(t.TempDir(), "ended")
	p := start(t, fmt.Sprintf(`for i in $(seq %d); do (setsid sh -c 'echo x >> %s' &); done; exec sleep 100`, orphans, ended))
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(ended)
		var zombies []procInfo
		for _, m := range zombiesAmongAll(os.Getpid()) {
			if m.sid == m.pid {
				zombies = append(zombies, m)
			}
		}
		if strings.Count(string(data), "x") == orphans && len(zombies) == 0 {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("%d of %d orphans ended; session leaders left as zombies under this process: %+v", strings.Count(string(data), "x"), orphans, zombies)
		}
		select {
		case <-p.Done():
			t.Fatal("the shell ended")
		case <-time.After(10 * time.Millisecond): // a poll's interval, with a deadline
		}
	}
}

// The children this process starts itself, in its own group (os/exec's
// default) or leading one (Setpgid, as Start's), keep their exit status
// for their Wait however often orphans are reaped meanwhile.
func TestReapingOrphansLeavesOwnChildrenTheirExitStatus(t *testing.T) {
	if err := BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		inGroup := exec.Command("/bin/sh", "-c", "exit 3")
		leader := exec.Command("/bin/sh", "-c", "exit 4")
		leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		for _, c := range []*exec.Cmd{inGroup, leader} {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		// Both are zombies, children of this process, when orphans are
		// reaped (here and on their SIGCHLDs).
		if err := AwaitExit([]int{inGroup.Process.Pid, leader.Process.Pid}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		// Both are found as zombies, by the threads' lists of children as
		// by every process's stat.
		for how, find := range map[string]func(int) []procInfo{"children": childZombies, "all": zombiesAmongAll} {
			found := 0
			for _, m := range find(os.Getpid()) {
				if m.pid == inGroup.Process.Pid || m.pid == leader.Process.Pid {
					found++
				}
			}
			if found != 2 {
				t.Fatalf("round %d: %s found %d of the 2 zombie children: %+v", i, how, found, find(os.Getpid()))
			}
		}
		ReapOrphans()
		for want, c := range map[int]*exec.Cmd{3: inGroup, 4: leader} {
			var exitErr *exec.ExitError
			if err := c.Wait(); !errors.As(err, &exitErr) || exitErr.ExitCode() != want {
				t.Fatalf("round %d: Wait of a child exiting %d: %v", i, want, err)
			}
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
