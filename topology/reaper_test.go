package topology_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/reaper"
	"github.com/scenario-tool/scenario/topology"
	"github.com/scenario-tool/scenario/wait"
)

// The test binary plays three parts besides the tests: the reaper (as
// `scenario __reaper` does), a runner that builds a lab and waits to be
// killed, and a process that only reports Permitted.
const roleVar = "TOPOLOGY_TEST_ROLE"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == reaper.Arg {
		os.Exit(reaper.Main(os.Args[2:]))
	}
	switch os.Getenv(roleVar) {
	case "runner":
		os.Exit(actAsRunner())
	case "wire-peer":
		os.Exit(wirePeer())
	case "permitted":
		if err := topology.Permitted(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("permitted")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// actAsRunner does what the runner does with a topology: start a reaper,
// build a lab registered with it, start a process in a node; then it
// reports the lab's namespaces and the process, and waits for its end.
func actAsRunner() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	rp, err := reaper.Start(self, os.Stderr)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	lab, err := topology.New(os.Getenv("TOPOLOGY_TEST_PREFIX"), []string{"a", "b"}, topology.WithRegistrar(rp))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	b, _ := lab.Node("b")
	sleeper := exec.Command("sleep", "64.4")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.Do(sleeper.Start); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	rp.Watch(sleeper.Process.Pid)
	fmt.Printf("ready %d\n", sleeper.Process.Pid)
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
	return 0
}

func namespacesWithPrefix(prefix string) []string {
	entries, _ := os.ReadDir(topology.RunDir)
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// A runner that dies by SIGKILL leaves no namespace behind: its reaper
// kills what ran in the nodes, then removes the namespaces.
func TestTheReaperRemovesADeadRunnersNamespaces(t *testing.T) {
	testenv.Need(t, testenv.Namespaces(topology.Permitted), testenv.Program("ip"))
	prefix := fmt.Sprintf("tr%d-%04x", os.Getpid(), rand.Intn(1<<16))
	runner := exec.Command(os.Args[0])
	runner.Env = append(os.Environ(), roleVar+"=runner", "TOPOLOGY_TEST_PREFIX="+prefix)
	runner.Stderr = os.Stderr
	stdin, err := runner.StdinPipe() // held open: the runner waits on it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := runner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = runner.Process.Kill()
		for _, name := range namespacesWithPrefix(prefix) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("the runner said %q (%v)", line, err)
	}
	sleeper, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	if got := namespacesWithPrefix(prefix); len(got) != 3 {
		t.Fatalf("while the runner runs: namespaces %v, want 3", got)
	}
	if err := runner.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = runner.Wait()
	cond := wait.Func("the dead runner's namespaces and process to be gone", func(context.Context) error {
		if names := namespacesWithPrefix(prefix); len(names) > 0 {
			return fmt.Errorf("namespaces left: %v", names)
		}
		if proc.GroupRunning(sleeper) {
			return fmt.Errorf("the process started in node b (group %d) still runs", sleeper)
		}
		return nil
	})
	if err := wait.For(context.Background(), cond, wait.Options{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
}

// Without the privileges, Permitted says what is missing and what to do.
// The test binary runs as nobody: it is copied where nobody may run it.
func TestPermittedExplainsARefusal(t *testing.T) {
	testenv.Need(t, testenv.Root) // to start a process as nobody
	dir, err := os.MkdirTemp("", "topology-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "topology.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleVar+"=permitted")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err == nil {
		t.Fatalf("as nobody, Permitted said %q", out)
	}
	want := "topologies need network namespaces, and this process (uid 65534) lacks CAP_SYS_ADMIN and CAP_NET_ADMIN: run it as root"
	if !strings.Contains(string(out), want) {
		t.Errorf("as nobody, Permitted said %q, want it to contain %q", out, want)
	}
}
