package proc

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// setsidVar makes this test binary do what setsid(1) does, with no
// util-linux needed: leave its process group for a session of its own,
// then become a shell that says its pid and sleeps (TestMain).
const setsidVar = "PROC_TEST_SETSID"

// playSetsid is what this test binary does when setsidVar is set.
func playSetsid() {
	if _, err := syscall.Setsid(); err != nil {
		fmt.Fprintln(os.Stderr, "setsid:", err)
		os.Exit(1)
	}
	err := syscall.Exec("/bin/sh", []string{"sh", "-c", `echo "child $$"; exec sleep 100`}, os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(1)
}

// A child that left the process group (setsid) is still of the family:
// Family lists it and Stop kills it.
func TestFamilyFollowsAChildIntoItsOwnSession(t *testing.T) {
	// The child says its pid once setsid has moved it (it execs in
	// place: a & child leads no group, so it need not fork).
	t.Setenv(setsidVar, "1")
	t.Setenv("PROC_TEST_BINARY", os.Args[0])
	p := start(t, `"$PROC_TEST_BINARY" & wait`)
	waitForLog(t, p, "child ")
	line := strings.TrimSpace(strings.TrimPrefix(strings.Join(Tail(p.LogPath, 1), ""), "child "))
	child, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("the child's pid: %q", line)
	}
	if slices.Contains(GroupMembers(p.Pid()), child) {
		t.Fatalf("the child %d is still in the group: the test proves nothing", child)
	}
	if !slices.Contains(p.Family(), child) {
		t.Fatalf("Family() = %v, without the setsid'd child %d", p.Family(), child)
	}
	p.Stop(0, closed())
	if err := syscall.Kill(child, 0); err == nil {
		if stat, _ := os.ReadFile("/proc/" + line + "/stat"); !strings.Contains(string(stat), ") Z ") {
			t.Fatalf("the setsid'd child %d outlived Stop", child)
		}
	}
}

// Another runner started by a scenario's command marks its own processes:
// the inherited mark is replaced, not doubled.
func TestWithFamilyReplacesAnInheritedMark(t *testing.T) {
	env := WithFamily([]string{"A=1", FamilyVar + "=old"}, "new")
	if !slices.Equal(env, []string{"A=1", FamilyVar + "=new"}) {
		t.Fatalf("env = %q", env)
	}
}
