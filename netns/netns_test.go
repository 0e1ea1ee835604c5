package netns

import "testing"

// A runner's namespace names give back its pid and start time; the names
// of older runners (no start time) and anything else are not a runner's.
func TestRunNamesCarryTheRunnersPidAndStartTime(t *testing.T) {
	name := RunPrefix(4242, 987654, "0a1b2c") + "-app1"
	if pid, start, ok := ParseRunName(name); !ok || pid != 4242 || start != 987654 {
		t.Fatalf("ParseRunName(%q) = %d, %d, %v", name, pid, start, ok)
	}
	for _, other := range []string{"sc4242-123456-abcdef-x", "sc4242-0a1b2c-app1", "h-kernel-1", "sc4242-987654.0a1b2c", "xsc4242-987654.0a1b2c-app1"} {
		if _, _, ok := ParseRunName(other); ok {
			t.Errorf("%q is taken for a runner's namespace", other)
		}
	}
}
