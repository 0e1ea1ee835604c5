package proc

import (
	"bufio"
	"fmt"
	"io"
	"net"
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
)

func TestMain(m *testing.M) {
	if os.Getenv(setsidVar) != "" {
		playSetsid()
	}
	if os.Getenv(askCellsVar) != "" {
		askCells()
	}
	code := m.Run()
	if err := RemoveRunCell(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// needCells lets a test that makes cells go on only where cells can be
// made (root, a writable cgroup v1 hierarchy), and what else it names.
func needCells(t *testing.T, more ...testenv.Requirement) {
	t.Helper()
	testenv.Need(t, append([]testenv.Requirement{testenv.Cells(CellsAvailable)}, more...)...)
}

// askCellsVar makes this test binary a process that only asks whether
// cells are available, says so with its run's cgroup, and waits for its
// input to close before it exits (TestAskingWhetherCellsAreAvailableCreatesNoCgroup).
const askCellsVar = "PROC_TEST_ASK_CELLS"

func askCells() {
	if err := CellsAvailable(); err != nil {
		fmt.Println("unavailable:", err)
	} else {
		fmt.Println("available", RunCell())
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// A process that only asks whether cells are available (a suite that
// skips without them, a doctor-like check) leaves the cgroup hierarchies
// as they were: its run's cgroup is made with its first cell, not by the
// question. Asked in a fresh process, whose answer no earlier cell of
// this one can have made.
func TestAskingWhetherCellsAreAvailableCreatesNoCgroup(t *testing.T) {
	needCells(t)
	home, _, _, err := ownCgroup()
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), askCellsVar+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	answer, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the asking process said nothing: %v", err)
	}
	dir, ok := strings.CutPrefix(strings.TrimSpace(answer), "available ")
	if !ok {
		t.Fatalf("the asking process says %q, though this one has cells", answer)
	}
	if filepath.Dir(dir) != home {
		t.Fatalf("its run's cgroup would be %s, not in %s: the test looks in the wrong place", dir, home)
	}
	// Still running, it has removed nothing at its end yet: what it made
	// by asking is there now, named after it.
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("asking made the run's cgroup %s (%v)", dir, err)
	}
	after, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	// Other processes of the machine may make and remove cgroups here
	// meanwhile: only those named after the asking process are its own.
	mine := func(entries []os.DirEntry) []string {
		var names []string
		for _, e := range entries {
			if m := RunCellPattern.FindStringSubmatch(e.Name()); m != nil && m[1] == strconv.Itoa(cmd.Process.Pid) {
				names = append(names, e.Name())
			}
		}
		return names
	}
	if b, a := mine(before), mine(after); !slices.Equal(b, a) {
		t.Errorf("asking changed the cgroups of %s named after the asking process: %v before, %v after", home, b, a)
	}
}

// escapees are the ways a descendant leaves everything but its cgroup:
// its environment, its session, its process group, its parent.
var escapees = []struct{ name, script string }{
	{"env -i setsid", `env -i setsid sleep %s & echo started; wait`},
	{"daemonizing double fork", `(setsid sh -c 'env -i sleep %s &' &); echo started; exec sleep 100`},
	{"own process group, no environment", `env -i perl -e 'setpgrp(0,0); exec "sleep", "%s"' & echo started; wait`},
	{"setsid -f, reparented", `env -i setsid -f sleep %s; echo started; exec sleep 100`},
}

// A descendant that clears its environment and leaves its group, session
// and parent is still of the family (Family lists it, Owns says so), and
// Stop kills it: the kernel's cgroup holds it, not a mark it can drop.
func TestStopEndsDescendantsThatEscapedEverythingButTheirCgroup(t *testing.T) {
	needCells(t, testenv.Programs("setsid", "perl")...)
	for i, e := range escapees {
		t.Run(e.name, func(t *testing.T) {
			arg := fmt.Sprintf("%d.%d", 4000+i, os.Getpid()%1000)
			p := start(t, fmt.Sprintf(e.script, arg))
			waitForLog(t, p, "started")
			pid := awaitCmdline(t, "sleep "+arg)
			stat := describeStat(pid)
			if pgid, _ := syscall.Getpgid(pid); pgid == p.Pid() {
				t.Fatalf("the escapee %d (%s) is still in the group: the test proves nothing", pid, stat)
			}
			if slices.Contains(FamilyMembers(p.family), pid) {
				t.Fatalf("the escapee %d still has the family mark: the test proves nothing", pid)
			}
			if !slices.Contains(p.Family(), pid) {
				t.Fatalf("Family() = %v, without the escapee %d (%s)", p.Family(), pid, stat)
			}
			pgid, _ := syscall.Getpgid(pid)
			if !p.Owns(pid, pgid) {
				t.Fatalf("Owns(%d) is false for the escapee", pid)
			}
			p.Stop(0, closed())
			if !exited(pid) {
				t.Fatalf("the escapee %d (%s) outlived Stop", pid, stat)
			}
			if _, err := os.Stat(p.cell.Dir()); !os.IsNotExist(err) {
				t.Fatalf("the cell %s outlived Stop: %v", p.cell.Dir(), err)
			}
		})
	}
}

// A process not started by p is not of its family.
func TestOwnsRefusesAStranger(t *testing.T) {
	needCells(t)
	p := start(t, "echo started; exec sleep 100")
	waitForLog(t, p, "started")
	if p.Owns(os.Getpid(), syscall.Getpgrp()) {
		t.Fatal("the test process is taken for the family of a process it started")
	}
}

// awaitCmdline finds the running process whose command line is cmdline.
func awaitCmdline(t *testing.T, cmdline string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			raw, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", " ") == cmdline && !exited(pid) {
				return pid
			}
		}
		<-tick.C
	}
	t.Fatalf("no process %q appeared", cmdline)
	return 0
}

func describeStat(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return strings.TrimSpace(string(raw))
}

// Fork bears the child in the cell, and the thread that forked it is back
// where it was once Fork returns: nothing of the runner stays in a cell
// that Kill freezes and kills.
func TestForkBearsTheChildInTheCellAndTakesTheThreadBack(t *testing.T) {
	needCells(t)
	cell, err := NewCell("fork-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cell.Kill() })
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadCgroup(t, cell.kind)
	cmd := exec.Command("sleep", "100")
	if err := cell.Fork(cmd.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if after := threadCgroup(t, cell.kind); after != before {
		t.Fatalf("the forking thread is in %s after Fork, was in %s", after, before)
	}
	if !cell.Holds(cmd.Process.Pid) {
		path, _ := cgroupOf(cmd.Process.Pid, cell.kind)
		t.Fatalf("the child is in %s, not in its cell %s", path, cell.path)
	}
	if slices.Contains(cell.Members(), os.Getpid()) {
		t.Fatal("the cell lists this process as a member")
	}
}

// threadCgroup is the calling thread's cgroup path in the hierarchy of kind.
func threadCgroup(t *testing.T, kind string) string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/cgroup", syscall.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), kind) {
			return parts[2]
		}
	}
	t.Fatalf("no %s cgroup in %q", kind, raw)
	return ""
}

// A process whose leader thread has exited while another thread runs on
// shows as a zombie, yet holds its cgroup and its files (a listener):
// the cell's kill waits until every thread has exited, so that when Stop
// returns the port is free and the cell is gone.
func TestStopWaitsForEveryThreadOfALeaderThatExitedFirst(t *testing.T) {
	needCells(t, testenv.Programs("perl")...)
	// perl's exit ends every thread: syscall 60 (93 on arm64) is exit(2),
	// which ends the calling thread only.
	p := start(t, `exec perl -MIO::Socket::INET -Mthreads -MConfig -e '
$s = IO::Socket::INET->new(Listen => 5, LocalAddr => "127.0.0.1:0") or die "listen: $!";
$| = 1;
threads->create(sub {
	# Once the leader thread has exited: its stat says Z.
	until ((do { open my $f, "<", "/proc/$$/stat"; local $/; <$f> }) =~ /\) Z /) { select(undef, undef, undef, 0.005) }
	print "listening ", $s->sockport, "\n"; sleep 100;
});
syscall($Config{archname} =~ /aarch64/ ? 93 : 60, 0);
'`)
	waitForLog(t, p, "listening")
	log, _ := os.ReadFile(p.LogPath)
	_, port, _ := strings.Cut(strings.TrimSpace(string(log)), "listening ")
	if !isZombie(p.Pid()) {
		t.Fatalf("the leader %d is not a zombie (%s): the test proves nothing", p.Pid(), describeStat(p.Pid()))
	}
	if got := unexited([]int{p.Pid()}); len(got) != 1 {
		t.Fatalf("unexited says the leader %d has exited, though a thread of it runs", p.Pid())
	}
	// It runs: every look at the family finds it.
	for what, pids := range map[string][]int{"GroupMembers": GroupMembers(p.Pid()), "Family": p.Family(),
		"FamilyMembers": FamilyMembers(p.family), "the cell's Members": p.cell.Members()} {
		if !slices.Contains(pids, p.Pid()) {
			t.Errorf("%s = %v, without %d, whose thread runs on", what, pids, p.Pid())
		}
	}
	if !p.cell.Holds(p.Pid()) || !p.Owns(p.Pid(), p.Pid()) {
		t.Errorf("the cell does not hold %d, whose thread runs on", p.Pid())
	}
	p.Stop(0, closed())
	if got := unexited([]int{p.Pid()}); len(got) != 0 {
		t.Errorf("a thread of %d outlived Stop", p.Pid())
	}
	if _, err := os.Stat(p.cell.Dir()); !os.IsNotExist(err) {
		t.Errorf("the cell %s outlived Stop: %v", p.cell.Dir(), err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("the port its thread held is not free once Stop returned: %v", err)
	}
	ln.Close()
}

// A family that forks all the time, each child in a session of its own
// with no environment (so that neither the group nor the family mark
// finds it), is ended whole: the cell is killed in rounds until empty.
func TestStopEndsACellThatKeepsForking(t *testing.T) {
	needCells(t, testenv.Programs("setsid")...)
	arg := fmt.Sprintf("%d.%d", 4100, os.Getpid()%1000)
	p := start(t, fmt.Sprintf(`echo started; while :; do env -i setsid sleep %s & done`, arg))
	waitForLog(t, p, "started")
	awaitCmdline(t, "sleep "+arg)
	p.Stop(0, closed())
	if left := processesWithCmdline("sleep " + arg); len(left) > 0 {
		t.Errorf("%d of the forked children outlived Stop: %v", len(left), left)
	}
	if _, err := os.Stat(p.cell.Dir()); !os.IsNotExist(err) {
		t.Errorf("the cell %s outlived Stop: %v", p.cell.Dir(), err)
	}
}

// processesWithCmdline lists the running processes whose command line is
// cmdline.
func processesWithCmdline(cmdline string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", " ") == cmdline && !exited(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
