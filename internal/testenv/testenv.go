// Package testenv decides, in one place, what a test does when the
// machine lacks something it needs beyond Go: consul, socat, root, a
// shell. It is what makes the test tiers.
//
//   - The short tier, `go test -short ./...`, needs Go alone (and the sh
//     and coreutils every Linux has). A test that needs more is skipped,
//     saying what it needs, even where that is installed: the tier is the
//     same, and as fast, on every machine.
//   - The full tier, `make test`, sets SCENARIO_TEST_FULL=1. A test whose
//     need is not met fails, naming the need and how to meet it: no test
//     passes there by skipping.
//   - A plain `go test` runs what the machine can and skips the rest,
//     saying why.
//
// Tests skip only through this package; a static test holds them to it.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// FullVar, set to 1 by `make test`, says that the full tier runs.
const FullVar = "SCENARIO_TEST_FULL"

// Full reports whether the full tier runs. A value other than 1, 0 or
// none is an error: a misspelt switch must not quietly turn skips back on.
func Full() (bool, error) {
	switch v := os.Getenv(FullVar); v {
	case "", "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want 1 (the full tier, as `make test` sets it) or nothing", FullVar, v)
	}
}

// A Requirement is something a test needs beyond Go.
type Requirement struct {
	// Name says what is needed: "consul", "socat", "root".
	Name string
	// How says how to meet it, for the message of a test that lacks it;
	// empty when Missing's errors say so themselves.
	How string
	// Missing returns nil when the requirement is met, else why not. An
	// error made by Wrong fails the test even outside the full tier.
	Missing func() error
}

// Root is the requirement to run as root: network namespaces, mounts,
// another user's credentials.
var Root = Requirement{
	Name: "root",
	How:  "run the tests as root (sudo), as `make test` in CI does",
	Missing: func() error {
		if uid := os.Geteuid(); uid != 0 {
			return fmt.Errorf("this test runs as uid %d", uid)
		}
		return nil
	},
}

// Namespaces is the requirement of the right to make network namespaces
// (topologies, parallel runs that share ports), as permitted judges it:
// topology.Permitted, which this package cannot import.
func Namespaces(permitted func() error) Requirement {
	return Requirement{Name: "network namespaces", Missing: permitted}
}

// Cells is the requirement of cgroup cells (a writable cgroup v1
// hierarchy, so root), as available judges it: proc.CellsAvailable, which
// this package cannot import.
func Cells(available func() error) Requirement {
	return Requirement{Name: "cgroup cells", Missing: available}
}

// install says where each program the tests run comes from (Debian's
// package); `make deps` installs them all.
var install = map[string]string{
	"bash":     "bash",
	"chromium": "chromium",
	"curl":     "curl",
	"dot":      "graphviz",
	"fish":     "fish",
	"ip":       "iproute2",
	"nc":       "netcat-openbsd",
	"perl":     "perl",
	"script":   "util-linux",
	"setpriv":  "util-linux",
	"setsid":   "util-linux",
	"socat":    "socat",
	"ss":       "iproute2",
	"unshare":  "util-linux",
	"zsh":      "zsh",
}

// Program is the requirement of a program in PATH.
func Program(name string) Requirement {
	how := "install it"
	if pkg, ok := install[name]; ok {
		how = "`make deps` installs it (Debian's " + pkg + ")"
	}
	return Requirement{Name: name, How: how, Missing: func() error {
		_, err := exec.LookPath(name)
		return err
	}}
}

// Programs is Program for each name.
func Programs(names ...string) []Requirement {
	var rs []Requirement
	for _, n := range names {
		rs = append(rs, Program(n))
	}
	return rs
}

// wrongError marks a requirement that was set, but wrongly.
type wrongError struct{ error }

func (w wrongError) Unwrap() error { return w.error }

// Wrong marks what a Missing function found set wrongly rather than
// absent, such as $CONSUL naming no executable: asked for and broken, it
// fails the test in every tier that runs it, where an absence skips.
func Wrong(err error) error { return wrongError{err} }

// Need lets t go on only if every requirement is met. In the short tier
// it skips t without looking; in the full tier an unmet one fails t;
// otherwise an unmet one skips t, saying why.
func Need(t testing.TB, needs ...Requirement) {
	t.Helper()
	full := tier(t)
	if testing.Short() {
		var names []string
		for _, n := range needs {
			names = append(names, n.Name)
		}
		t.Skipf("needs %s: the short tier (-short) needs Go alone; `make test` runs this test", strings.Join(names, ", "))
	}
	for _, n := range needs {
		missing := n.Missing()
		if missing == nil {
			continue
		}
		why := fmt.Sprintf("needs %s: %v", n.Name, missing)
		if n.How != "" {
			why += "; " + n.How
		}
		var wrong wrongError
		switch {
		case errors.As(missing, &wrong):
			t.Fatal(why)
		case full:
			t.Fatalf("%s (the full tier, %s=1, fails what it cannot run)", why, FullVar)
		default:
			t.Skipf("%s (`make test` fails here instead of skipping)", why)
		}
	}
}

// Long skips t in the short tier: t needs Go alone, but takes too long
// for it (why says what takes the time). The other tiers run it.
func Long(t testing.TB, why string) {
	t.Helper()
	if tier(t); testing.Short() {
		t.Skipf("takes long (%s): the short tier (-short) leaves it to `make test`", why)
	}
}

// tier reports whether the full tier runs, failing t when the switches
// say something that cannot be.
func tier(t testing.TB) (full bool) {
	t.Helper()
	full, err := Full()
	if err != nil {
		t.Fatal(err)
	}
	if full && testing.Short() {
		t.Fatalf("%s=1 with -short: the full tier runs every test; drop one of them", FullVar)
	}
	return full
}
