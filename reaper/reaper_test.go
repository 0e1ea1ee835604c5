package reaper

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/netns"
	"github.com/scenario-tool/scenario/proc"
)

// startGroup starts a shell that forks a child and waits, as socat's
// parent does, in a process group of its own.
func startGroup(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "sleep 61.1 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { proc.KillGroup(cmd.Process.Pid) })
	return cmd.Process.Pid
}

// When the runner's end of the pipe closes, every group still registered
// is killed, whole; a group that was unregistered is left alone.
func TestServeKillsRegisteredGroupsWhenThePipeCloses(t *testing.T) {
	registered, forgotten := startGroup(t), startGroup(t)
	in := strings.NewReader("+" + strconv.Itoa(registered) + "\n+" + strconv.Itoa(forgotten) + "\n-" + strconv.Itoa(forgotten) + "\n")
	var stderr bytes.Buffer
	if code := Serve(in, &stderr, []string{"123", ""}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if proc.GroupRunning(registered) {
		t.Errorf("the registered group still runs: %v", proc.GroupMembers(registered))
	}
	if !proc.GroupRunning(forgotten) {
		t.Errorf("the unregistered group was killed")
	}
	if !strings.Contains(stderr.String(), "the runner (pid 123) ended without stopping its processes; killed group "+strconv.Itoa(registered)) {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// A process carrying the run's mark is killed even if it was never
// registered (it left its group, or the runner died before registering).
func TestServeKillsMarkedProcesses(t *testing.T) {
	mark := "test." + strconv.Itoa(os.Getpid())
	// sleep itself, not sh that execs it: during a second exec the
	// process shows no environment, and the test's sighting below could
	// come just before it (a flake seen under load).
	cmd := exec.Command("sleep", "62.2")
	cmd.Env = append(os.Environ(), MarkVar+"="+mark)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// Until it has exec'd, a new child's /proc environ is its parent's:
	// wait (boundedly) until it carries the mark, as a started process does.
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(marked(mark), cmd.Process.Pid) && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	var stderr bytes.Buffer
	Serve(strings.NewReader(""), &stderr, []string{"123", mark})
	<-exited
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the marked process ended with %v", cmd.ProcessState)
	}
}

// addNetns creates the named network namespace name with `ip netns add`
// (iproute2 is one of the project's dependencies) and removes it at the
// end of the test if it is still there.
func addNetns(t *testing.T, name string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s (the reaper's namespace tests need root)", name, err, out)
	}
	t.Cleanup(func() { _, _ = netns.RemoveNamed(name) })
}

func netnsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netns.RunDir, name))
	return err == nil
}

// When the pipe closes, the reaper kills the registered groups first (one
// runs inside a registered namespace, which would keep it alive), then
// removes every namespace still registered, and nothing else.
func TestServeRemovesRegisteredNamespacesAfterTheKill(t *testing.T) {
	testenv.Need(t, testenv.Root, testenv.Program("ip"))
	base := "rp" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	registered, forgotten, neverMade := base+"-reg", base+"-forgot", base+"-never"
	addNetns(t, registered)
	addNetns(t, forgotten)
	// A process group living in the registered namespace.
	cmd := exec.Command("ip", "netns", "exec", registered, "sleep", "63.3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { proc.KillGroup(cmd.Process.Pid) })
	pgid := strconv.Itoa(cmd.Process.Pid)
	in := strings.NewReader("+" + pgid + "\nnetns " + registered + "\nnetns " + forgotten + "\n-netns " + forgotten +
		"\nnetns " + neverMade + "\nnetns ../" + registered + "\n")
	var stderr bytes.Buffer
	if code := Serve(in, &stderr, []string{"123", ""}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	<-exited
	if netnsExists(registered) {
		t.Errorf("the registered namespace %s is still there", registered)
	}
	if !netnsExists(forgotten) {
		t.Errorf("the unregistered namespace %s was removed", forgotten)
	}
	for _, want := range []string{
		"killed group " + pgid,
		"ended without removing its network namespaces; removed " + registered + "\n",
		`refusing to remove network namespace "../` + registered + `"`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// The runner's end writes the namespace lines Serve reads.
func TestWatchNetnsWritesTheProtocol(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rp := &Reaper{pipe: w}
	rp.WatchNetns("sc-1-br")
	rp.Watch(42)
	rp.UnwatchNetns("sc-1-br")
	rp.WatchNetns("bad\nname")
	rp.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := "netns sc-1-br\n+42\n-netns sc-1-br\n"; string(got) != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

// The run's cgroup, once registered, is killed whole when the pipe closes
// (a member that cleared its environment and left its group included) and
// removed; a registered path that is not a run's cgroup is never touched.
func TestServeKillsAndRemovesTheRunsCgroup(t *testing.T) {
	testenv.Need(t, testenv.Cells(proc.CellsAvailable), testenv.Program("setsid"))
	cell, err := proc.NewCell("reaper-test")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "env -i setsid sleep 61.3 & wait")
	if err := cell.ForkOnOwnThread(cmd.Start); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cell.Kill() })
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for len(cell.Members()) < 2 && time.Now().Before(deadline) {
		<-tick.C
	}
	members := cell.Members()
	if len(members) < 2 {
		t.Fatalf("the cell's members: %v", members)
	}
	notARun := t.TempDir()
	in := strings.NewReader("cgroup " + proc.RunCell() + "\ncgroup " + notARun + "\n")
	var stderr bytes.Buffer
	if code := Serve(in, &stderr, []string{"123", ""}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, pid := range members {
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(stat), ") Z ") {
			t.Errorf("member %d survived: %s", pid, stat)
		}
	}
	if _, err := os.Stat(proc.RunCell()); !os.IsNotExist(err) {
		t.Errorf("the run's cgroup %s is still there: %v", proc.RunCell(), err)
	}
	if _, err := os.Stat(notARun); err != nil {
		t.Errorf("a registered path that is not a run's cgroup was removed: %v", err)
	}
	if !strings.Contains(stderr.String(), "of cgroup "+proc.RunCell()) {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// A runner that closes the pipe at its clean end exits right after: the
// hunt waits for that exit, so as not to take the CPU from it, and still
// kills what is registered. A runner that has died is not waited for.
func TestTheHuntWaitsForARunnerThatClosedThePipeToExit(t *testing.T) {
	runner := exec.Command("sleep", "30")
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = runner.Wait(); close(exited) }()
	t.Cleanup(func() { _ = runner.Process.Kill(); <-exited })
	registered := startGroup(t)
	args := []string{strconv.Itoa(runner.Process.Pid), ""}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(strings.NewReader("+"+strconv.Itoa(registered)+"\n"), io.Discard, args, runnerExit(args))
	}()
	select {
	case <-done:
		t.Fatal("the hunt began while the runner still ran")
	case <-time.After(100 * time.Millisecond): // a deadline, not a wait for the hunt
	}
	if !proc.GroupRunning(registered) {
		t.Fatal("the registered group was killed while the runner still ran")
	}
	_ = runner.Process.Kill()
	select {
	case <-done:
	case <-time.After(runnerExitWait / 2):
		t.Fatal("the hunt did not follow the runner's exit at once")
	}
	if proc.GroupRunning(registered) {
		t.Errorf("the registered group outlived the hunt: %v", proc.GroupMembers(registered))
	}
	// The runner has exited: a reaper of a dead runner does not wait.
	start := time.Now()
	if wait := runnerExit(args); wait != nil {
		wait()
	}
	if took := time.Since(start); took > runnerExitWait/2 {
		t.Errorf("the wait for a runner that has exited took %s", took)
	}
}

// A cgroup the runner removed and then unregistered is left alone: the
// same process may make it again for a later run, whose reaper watches it.
func TestServeLeavesAnUnregisteredCgroupAlone(t *testing.T) {
	testenv.Need(t, testenv.Cells(proc.CellsAvailable))
	// The run's cgroup this test makes goes last, after the cell in it.
	t.Cleanup(func() { _ = proc.RemoveRunCell() })
	cell, err := proc.NewCell("reaper-unwatch-test")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "61.4")
	if err := cell.ForkOnOwnThread(cmd.Start); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cell.Kill() })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rp := &Reaper{pipe: w}
	rp.WatchCell(proc.RunCell())
	rp.UnwatchCell(proc.RunCell())
	rp.Close()
	if code := Serve(r, io.Discard, []string{"123", ""}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	r.Close()
	if !cell.Holds(cmd.Process.Pid) {
		t.Errorf("the unregistered cgroup's member %d was killed", cmd.Process.Pid)
	}
}
