package proc

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A child that left the process group (setsid) is still of the family:
// Family lists it and Stop kills it.
func TestFamilyFollowsAChildIntoItsOwnSession(t *testing.T) {
	// The child says its pid once setsid has moved it (setsid execs in
	// place: a & child leads no group, so it need not fork).
	p := start(t, `setsid sh -c 'echo "child $$"; exec sleep 100' & wait`)
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
