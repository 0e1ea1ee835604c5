package reaper

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

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
	cmd := exec.Command("/bin/sh", "-c", "exec sleep 62.2")
	cmd.Env = append(os.Environ(), MarkVar+"="+mark)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var stderr bytes.Buffer
	Serve(strings.NewReader(""), &stderr, []string{"123", mark})
	<-exited
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the marked process ended with %v", cmd.ProcessState)
	}
}
