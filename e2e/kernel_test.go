package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/wait"
)

// What the kernel can vouch for: a family of processes judged in every
// network namespace it is in, ended whatever its members did, and no
// namespace or cgroup outliving its run.

var kernelSeq atomic.Int64

// lanNamespace makes a named network namespace with a LAN-facing link (a
// veth cable to the test's own namespace, 192.0.2.7 at its end) for the
// test, removed after it.
func lanNamespace(t *testing.T) string {
	t.Helper()
	seq := kernelSeq.Add(1)
	ns := fmt.Sprintf("scn-lan-%d-%d", os.Getpid(), seq)
	near := fmt.Sprintf("scl%d-%d", os.Getpid()%100000, seq)
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"link", "add", near, "type", "veth", "peer", "name", "lan0", "netns", ns},
		{"addr", "add", "192.0.2.1/24", "dev", near},
		{"link", "set", near, "up"},
		{"-n", ns, "addr", "add", "192.0.2.7/24", "dev", "lan0"},
		{"-n", ns, "link", "set", "lan0", "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "netns" {
			t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		}
	}
	return ns
}

// A member of socat's family (same group, or one that cleared its
// environment and left the group) listening beyond loopback in another
// network namespace, on TCP or UDP, fails loopback-only, naming the
// namespace and the listener: only the step's own namespace was read.
func TestLoopbackOnlyJudgesEveryNamespaceOfTheFamily(t *testing.T) {
	needMesh(t, testenv.Root, testenv.Program("ip"), testenv.Program("setsid"))
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Fatalf("this test needs ip netns (root, iproute2): %v", err)
	}
	for _, c := range []struct {
		name, member, table, want string
	}{
		{"tcp in the group", "socat TCP-LISTEN:8484,bind=0.0.0.0,reuseaddr,fork EXEC:cat", "tcp", "0.0.0.0:8484 in network namespace %s"},
		{"udp in the group", "socat UDP-RECVFROM:8484,fork EXEC:cat", "udp", "udp 0.0.0.0:8484 in network namespace %s"},
		{"tcp, environment cleared, own session", "env -i /usr/bin/setsid /usr/bin/socat TCP-LISTEN:8484,bind=0.0.0.0,reuseaddr,fork EXEC:cat", "tcp", "0.0.0.0:8484 in network namespace %s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns := lanNamespace(t)
			dir := t.TempDir()
			// The shell waits until the member is bound there (0x2124 = 8484).
			cmd := fmt.Sprintf(`ip netns exec %[1]s %[2]s & until ip netns exec %[1]s grep -q ":2124 " /proc/net/%[3]s; do :; done; exec socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat`, ns, c.member, c.table)
			file := writeScenario(t, dir, "lan.yaml", "name: lan\nsteps:\n"+
				"  - run: {name: socat, command: "+strconvQuote(cmd)+", ready: \"127.0.0.1:8181\"}\n"+
				"  - expect: {loopback-only: socat}\n")
			r := scenario(t, "run", file)
			r.mustExit(t, 1)
			if want := "socat listens beyond loopback on " + fmt.Sprintf(c.want, ns); !strings.Contains(r.stdout, want) {
				t.Errorf("the failure does not say %q:\n%s", want, r.stdout)
			}
			if !strings.Contains(r.stdout, "2 expect") && !strings.Contains(r.stdout, "FAIL") {
				t.Errorf("output:\n%s", r.stdout)
			}
		})
	}
}

// A member of socat's family that binds 0.0.0.0 in a namespace with a
// LAN-facing link and then leaves it (unshare --net, keeping the socket)
// leaves the socket listening there, where no member is any more:
// loopback-only fails, naming that namespace, the listener and its
// holder.
func TestLoopbackOnlyJudgesASocketInTheNamespaceItWasMadeIn(t *testing.T) {
	needMesh(t, testenv.Root, testenv.Program("ip"), testenv.Program("perl"), testenv.Program("unshare"), testenv.Program("pgrep"))
	ns := lanNamespace(t)
	arg := sleepArg()
	killOnCleanup(t, "sleep "+arg)
	// perl binds 0.0.0.0:8484 in ns and execs unshare, which takes the
	// listener (not close-on-exec: $^F) into a namespace of its own and
	// execs sleep; the shell waits for that sleep.
	member := `perl -MSocket -e '$^F = 100; socket(S, PF_INET, SOCK_STREAM, 0) or die; setsockopt(S, SOL_SOCKET, SO_REUSEADDR, 1); bind(S, pack_sockaddr_in(8484, INADDR_ANY)) or die; listen(S, 5) or die; exec "unshare", "--net", "sleep", "` + arg + `"'`
	cmd := fmt.Sprintf(`ip netns exec %s %s & until pgrep -f '^sleep %s$' >/dev/null; do :; done; exec socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat`, ns, member, arg)
	file := writeScenario(t, t.TempDir(), "left.yaml", "name: left\nsteps:\n"+
		"  - run: {name: socat, command: "+strconvQuote(cmd)+", ready: \"127.0.0.1:8181\"}\n"+
		"  - expect: {loopback-only: socat}\n")
	r := scenario(t, "run", file)
	r.mustExit(t, 1)
	for _, want := range []string{
		"socat listens beyond loopback on 0.0.0.0:8484 in network namespace " + ns,
		"which no member of its family is in: pid ",
		"(sleep " + arg + ") holds it from outside",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the failure does not say %q:\n%s", want, r.stdout)
		}
	}
}

// held-by judges the listener where the connection goes: a send from
// app1 to app2's address reaches app2's listener, whatever app1 has on
// that port. The family's wildcard listener on app1 does not make an
// impostor's on app2 the family's.
func TestHeldByJudgesTheNamespaceThatTakesTheConnection(t *testing.T) {
	needMesh(t, namespaces)
	dir := t.TempDir()
	file := writeScenario(t, dir, "held.yaml", "name: held\nnodes: [app1, app2]\nsteps:\n"+
		"  - run: {name: wide, command: \"socat TCP-LISTEN:8282,bind=0.0.0.0,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:8282\"}\n    node: app1\n"+
		"  - run: {name: impostor, command: \"socat TCP-LISTEN:8282,bind=0.0.0.0,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:8282\"}\n    node: app2\n"+
		"  - send: {to: \""+app2Addr+":8282\", data: \"x\\n\", held-by: wide}\n    node: app1\n")
	r := scenario(t, "run", file)
	r.mustExit(t, 1)
	if want := "held-by: expected wide to hold the listener that takes connections to " + app2Addr + ":8282, but pid"; !strings.Contains(r.stdout, want) {
		t.Errorf("the failure does not say %q:\n%s", want, r.stdout)
	}
	// Held by the one that takes it (a node dialing its own address), it
	// passes.
	file = writeScenario(t, dir, "held2.yaml", "name: held2\nnodes: [app1, app2]\nsteps:\n"+
		"  - run: {name: wide, command: \"socat TCP-LISTEN:8282,bind=0.0.0.0,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:8282\"}\n    node: app2\n"+
		"  - send: {to: \""+app2Addr+":8282\", data: \"x\\n\", held-by: wide}\n    node: app2\n")
	scenario(t, "run", file).mustExit(t, 0)
}

// escapes are the ways a descendant of a run command leaves everything
// but its cgroup: its environment, its session, its process group, its
// parent. Each leaves a sleep with a unique argument (%s).
var escapes = []struct{ name, command string }{
	{"env -i setsid", `env -i setsid sleep %s &`},
	{"daemonizing double fork", `(setsid sh -c 'env -i sleep %s &' &)`},
	{"own process group, environment cleared", `env -i perl -e 'setpgrp(0,0); exec "sleep", "%s"' &`},
	{"setsid -f", `env -i setsid -f sleep %s`},
}

// sleepArg is a sleep duration no other test uses, to find the process.
func sleepArg() string {
	return fmt.Sprintf("%d.%d", 900+kernelSeq.Add(1), os.Getpid()%100000)
}

// running lists the live processes whose command line is cmdline.
func running(cmdline string) []int {
	return runningWhere(func(c string) bool { return c == cmdline })
}

// runningWhere lists the live processes whose command line matches.
func runningWhere(match func(cmdline string) bool) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !match(cmdlineOf(pid)) {
			continue
		}
		if stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); !strings.Contains(string(stat), ") Z ") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killOnCleanup kills what a failed case left, so that it does not linger.
func killOnCleanup(t *testing.T, cmdline string) {
	t.Cleanup(func() {
		for _, pid := range running(cmdline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// escape is one case's escape: the command line of the sleep it leaves,
// and the shell command that leaves it.
type escape struct{ sleep, command string }

// newEscape makes an escape with command (from escapes) and a sleep of its
// own, and kills that sleep at the test's end if a failed case left it.
func newEscape(t *testing.T, command string) escape {
	arg := sleepArg()
	killOnCleanup(t, "sleep "+arg)
	return escape{sleep: "sleep " + arg, command: fmt.Sprintf(command, arg)}
}

// scenario writes the scenario esc of steps, and returns its path.
func (e escape) scenario(t *testing.T, steps ...string) string {
	return writeScenario(t, t.TempDir(), "esc.yaml", "name: esc\nsteps:\n"+strings.Join(steps, ""))
}

// runStep is the run step bg: it escapes, then holds the step.
func (e escape) runStep() string {
	return "  - run: {name: bg, command: " + strconvQuote(e.command+"\nexec sleep 31.7") + "}\n"
}

// untilEscaped is shell that waits until the escaped sleep runs.
func (e escape) untilEscaped() string { return "until pgrep -f '^" + e.sleep + "$'; do :; done" }

// goneStep is an exec step that fails while the escaped sleep runs.
func (e escape) goneStep() string { return execStep("! pgrep -f '^" + e.sleep + "$'") }

// execStep is an exec step of command.
func execStep(command string) string { return "  - exec: {command: " + strconvQuote(command) + "}\n" }

// A descendant that escaped its environment, session, group and parent
// does not outlive the run: not its cleanup, not a stop step, not an
// exec step's return, not a SIGKILL of the runner (the reaper's job).
func TestEscapedDescendantsDoNotOutliveTheRun(t *testing.T) {
	needScenarioOnly(t)
	testenv.Need(t, append(testenv.Programs("setsid", "perl", "pgrep"), testenv.Cells(proc.CellsAvailable))...)
	for _, e := range escapes {
		t.Run(e.name+"/cleanup", func(t *testing.T) {
			esc := newEscape(t, e.command)
			scenario(t, "run", esc.scenario(t, esc.runStep(), execStep(esc.untilEscaped()))).mustExit(t, 0)
			if left := running(esc.sleep); len(left) > 0 {
				t.Errorf("the escaped sleep %v outlived the run", left)
			}
		})
		t.Run(e.name+"/stop", func(t *testing.T) {
			esc := newEscape(t, e.command)
			scenario(t, "run", esc.scenario(t, esc.runStep(), execStep(esc.untilEscaped()), "  - stop: bg\n", esc.goneStep())).mustExit(t, 0)
		})
		t.Run(e.name+"/exec", func(t *testing.T) {
			esc := newEscape(t, e.command)
			scenario(t, "run", esc.scenario(t, execStep(esc.command+"\n"+esc.untilEscaped()), esc.goneStep())).mustExit(t, 0)
		})
		t.Run(e.name+"/SIGKILL", func(t *testing.T) {
			esc := newEscape(t, e.command)
			file := esc.scenario(t, esc.runStep(), execStep("sleep 33.3"))
			cmd := exec.Command(scenarioBin, "run", "--logs", t.TempDir(), "--consul", consulBin, file)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if !await(func() bool { return len(running(esc.sleep)) > 0 }, 20*time.Second) {
				_ = cmd.Process.Kill()
				t.Fatalf("the escaped sleep never started")
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if !await(func() bool { return len(running(esc.sleep)) == 0 }, 15*time.Second) {
				t.Errorf("the escaped sleep %v outlived the runner's SIGKILL (and its reaper)\nstderr:\n%s", running(esc.sleep), stderr.String())
			}
		})
	}
}

// await polls cond until it holds or limit passes.
func await(cond func() bool, limit time.Duration) bool {
	return wait.For(context.Background(), wait.Func("condition", func(context.Context) error {
		if cond() {
			return nil
		}
		return errors.New("not yet")
	}), wait.Options{Timeout: limit}) == nil
}

// ciJob is a cgroup standing for a CI job's: the runner is started in it,
// and the job is cancelled by freezing it and killing every process of it
// and of the cgroups nested in it (the run's own) at once.
type ciJob struct{ dir string }

func newCIJob(t *testing.T) ciJob {
	t.Helper()
	dir := fmt.Sprintf("/sys/fs/cgroup/freezer/scn-ci-%d-%d", os.Getpid(), kernelSeq.Add(1))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("this test needs a cgroup v1 freezer hierarchy (root): %v", err)
	}
	t.Cleanup(func() {
		// Killed members leave it once they are reaped, which takes a moment.
		if !await(func() bool { err := syscall.Rmdir(dir); return err == nil || errors.Is(err, syscall.ENOENT) }, 10*time.Second) {
			t.Errorf("cgroup %s could not be removed: %s", dir, readProcs(dir))
		}
	})
	return ciJob{dir: dir}
}

func readProcs(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return strings.Join(strings.Fields(string(b)), " ")
}

// start starts cmd inside the job's cgroup: a shell joins it, then execs.
func (j ciJob) start(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, j.dir}, args...)...)
	return cmd
}

// cancel freezes the job, kills every process in it and its nested
// cgroups, thaws it, and waits until they are gone.
func (j ciJob) cancel(t *testing.T) {
	t.Helper()
	state := filepath.Join(j.dir, "freezer.state")
	if err := os.WriteFile(state, []byte("FROZEN"), 0); err != nil {
		t.Fatal(err)
	}
	if !await(func() bool { b, _ := os.ReadFile(state); return strings.TrimSpace(string(b)) == "FROZEN" }, 10*time.Second) {
		t.Fatalf("the job's cgroup did not freeze")
	}
	var pids []int
	_ = filepath.WalkDir(j.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			f, _ := os.Open(filepath.Join(path, "cgroup.procs"))
			if f != nil {
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					if pid, err := strconv.Atoi(sc.Text()); err == nil {
						pids = append(pids, pid)
					}
				}
				f.Close()
			}
		}
		return nil
	})
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.WriteFile(state, []byte("THAWED"), 0)
	if !await(func() bool {
		for _, pid := range pids {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err == nil && !strings.Contains(string(stat), ") Z ") {
				return false
			}
		}
		return true
	}, 10*time.Second) {
		t.Fatalf("the job's processes outlived its cancel")
	}
	t.Logf("cancelled the job: killed %d processes at once", len(pids))
}

// runNamespaces lists the namespaces under /run/netns of the runner pid.
func runNamespaces(pid int) []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), fmt.Sprintf("sc%d-", pid)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// A run killed together with its reaper and agents (a cancelled CI job:
// the whole cgroup SIGKILLed) leaves its sc<pid>-* namespaces and its
// cgroup; `scenario clean` removes them, saying what it removed, and the
// next run does the same before it starts.
func TestNamespacesOfARunKilledWithItsReaperAreSwept(t *testing.T) {
	needMesh(t, namespaces, testenv.Program("setsid"))
	for _, c := range []struct{ sweeper, kill string }{{"clean", "job"}, {"next run", "job"}, {"clean", "runner and reaper"}} {
		sweeper := c.sweeper
		t.Run(sweeper+"/"+c.kill, func(t *testing.T) {
			job := newCIJob(t)
			arg := sleepArg()
			killOnCleanup(t, "sleep "+arg)
			file := writeScenario(t, t.TempDir(), "lab.yaml", "name: lab\nnodes: [app1, app2]\nsteps:\n"+
				"  - run: {name: bg, command: "+strconvQuote(fmt.Sprintf("env -i setsid sleep %s & exec sleep 31.7", arg))+"}\n    node: app1\n"+
				"  - exec: {command: \"sleep 33.3\"}\n    node: app1\n")
			cmd := job.start(t, scenarioBin, "run", "--logs", t.TempDir(), "--consul", consulBin, file)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			runnerPid := cmd.Process.Pid
			t.Cleanup(func() {
				for _, ns := range runNamespaces(runnerPid) {
					_ = exec.Command("ip", "netns", "del", ns).Run()
				}
			})
			if !await(func() bool { return len(running("sleep 33.3")) > 0 && len(running("sleep "+arg)) > 0 }, 30*time.Second) {
				_ = cmd.Process.Kill()
				t.Fatalf("the run never reached its exec step\nstderr:\n%s", stderr.String())
			}
			left := runNamespaces(runnerPid)
			if len(left) != 3 {
				t.Fatalf("the run's namespaces: %v, want a bridge and two nodes", left)
			}
			if c.kill == "job" {
				job.cancel(t)
			} else {
				// The runner and its reaper alone, at once: the leaders of what
				// it started die with it (their parent-death signal); the
				// escaped sleep lives on in the run's cgroup.
				reaper := runningWhere(func(c string) bool {
					return strings.HasPrefix(c, fmt.Sprintf("%s __reaper %d ", scenarioBin, runnerPid))
				})
				if len(reaper) != 1 {
					t.Fatalf("the runner's reaper: %v", reaper)
				}
				_ = syscall.Kill(reaper[0], syscall.SIGKILL)
				_ = syscall.Kill(runnerPid, syscall.SIGKILL)
			}
			_ = cmd.Wait()
			if now := runNamespaces(runnerPid); len(now) != 3 {
				t.Fatalf("after the cancel: %v; the test proves nothing", now)
			}
			var out string
			if sweeper == "clean" {
				c := exec.Command(scenarioBin, "clean")
				b, err := c.CombinedOutput()
				out = string(b)
				if err != nil {
					t.Fatalf("scenario clean: %v\n%s", err, out)
				}
			} else {
				host := writeScenario(t, t.TempDir(), "host.yaml", "name: host\nsteps:\n  - exec: {command: \"true\"}\n")
				r := scenario(t, "run", host)
				r.mustExit(t, 0)
				out = r.stderr
			}
			// Every run sweeps what dead runs left, so another suite's run on
			// this machine may remove some of these first; the sweeper must
			// name at least one, and leave none.
			named := 0
			for _, ns := range left {
				if strings.Contains(out, "network namespace "+ns) {
					named++
				}
			}
			if named == 0 {
				t.Errorf("%s does not say it removed any of %v:\n%s", sweeper, left, out)
			}
			if now := runNamespaces(runnerPid); len(now) > 0 {
				t.Errorf("namespaces left after %s: %v\n%s", sweeper, now, out)
			}
			if !strings.Contains(out, fmt.Sprintf("scenario-%d-", runnerPid)) {
				t.Errorf("%s does not say it removed the run's cgroup:\n%s", sweeper, out)
			}
			// Killed: the escaped sleep, and maybe a leader whose parent-death
			// signal had not landed yet.
			if c.kill != "job" && !regexp.MustCompile(`\(killed [0-9]+ process(es)?\)`).MatchString(out) {
				t.Errorf("%s does not say it killed the escaped sleep:\n%s", sweeper, out)
			}
			if left := running("sleep " + arg); len(left) > 0 {
				t.Errorf("the escaped sleep %v outlived %s", left, sweeper)
			}
			t.Logf("%s said:\n%s", sweeper, out)
			entries, _ := os.ReadDir(job.dir)
			for _, e := range entries {
				if e.IsDir() {
					t.Errorf("cgroup %s left in the job's", e.Name())
				}
			}
		})
	}
}

// Clean never touches what is not a dead runner's: a live run's
// namespaces, another tool's, and names of the runner's form whose runner
// is alive.
func TestCleanRemovesNothingOfALiveRun(t *testing.T) {
	needScenarioOnly(t)
	testenv.Need(t, testenv.Root, testenv.Program("ip"))
	foreign := fmt.Sprintf("scn-foreign-%d", os.Getpid())
	// The form of a runner's name, but the runner (this test) is alive.
	start, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(start[bytes.LastIndexByte(start, ')')+1:]))
	alive := fmt.Sprintf("sc%d-%s.abcdef-app1", os.Getpid(), fields[19])
	// And one whose pid lives but started later: a reused pid.
	reused := fmt.Sprintf("sc%d-1.abcdef-app1", os.Getpid())
	for _, ns := range []string{foreign, alive, reused} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v\n%s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	out, err := exec.Command(scenarioBin, "clean").CombinedOutput()
	if err != nil {
		t.Fatalf("scenario clean: %v\n%s", err, out)
	}
	for _, ns := range []string{foreign, alive} {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
			t.Errorf("clean removed %s: %v\n%s", ns, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join("/run/netns", reused)); err == nil || !strings.Contains(string(out), "removed network namespace "+reused) {
		t.Errorf("clean kept %s, whose runner (same pid, other start time) is gone:\n%s", reused, out)
	}
}

// A command that moves itself into another group of its session is still
// the step's own: its exit status is the step's (orphans ending meanwhile
// are reaped, never it), and a timeout ends it at the timeout, not when
// it chooses to exit.
func TestAnExecThatLeavesItsGroupIsStillTheStepsOwn(t *testing.T) {
	needScenarioOnly(t)
	testenv.Need(t, testenv.Program("perl"))
	leave := `my $k = fork(); if (!$k) { setpgrp(0, 0); sleep 40; exit 0 } select(undef, undef, undef, 0.02); setpgrp(0, $k) or die "setpgrp: $!"; `
	file := writeScenario(t, t.TempDir(), "leaves.yaml", "name: leaves\nsteps:\n"+
		"  - run: {name: orphans, command: \"while :; do sh -c 'true & true &'; sleep 0.01; done\"}\n"+
		"  - exec: {command: "+strconvQuote("exec perl -e '"+leave+"exit 1'")+", exit: 1}\n"+
		"  - exec: {command: "+strconvQuote("exec perl -e '"+leave+"exit 1'")+", exit: 1}\n"+
		"  - exec: {command: "+strconvQuote("exec perl -e '"+leave+"sleep 40'")+"}\n"+
		"    timeout: 1s\n")
	begin := time.Now()
	r := scenario(t, "run", file)
	r.mustExit(t, 1)
	if !strings.Contains(r.stdout, "ok    3 exec") || !strings.Contains(r.stdout, "FAIL  4 exec") || !strings.Contains(r.stdout, "did not finish in time") {
		t.Errorf("want steps 2 and 3 to pass with exit 1 and step 4 to time out:\n%s", r.stdout)
	}
	if took := time.Since(begin); took > 20*time.Second {
		t.Errorf("the run took %s: the timed-out command was waited for, not ended", took)
	}
}
