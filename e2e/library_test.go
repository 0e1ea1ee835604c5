package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/runner"
)

// The whole scenario library passes, two scenarios at a time (each in its
// own network namespace), as `make test` promises: every fact it states
// is proven against the real mesh on every run. The single-node library
// must stay under 2 minutes; the topology scenarios (several nodes, each
// in a namespace of its own) run apart, bounded by serf's own timers.
func TestLibraryPassesInParallel(t *testing.T) {
	needMesh(t, namespaces, testenv.Program("curl"))
	files, err := filepath.Glob("scenarios/*.yaml")
	if err != nil || len(files) < 20 {
		t.Fatalf("the library has %d scenarios, want 20 or more: %v", len(files), err)
	}
	var single, topology []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`(?m)^nodes:`).Match(data) {
			topology = append(topology, f)
		} else {
			single = append(single, f)
		}
	}
	if len(topology) < 4 {
		t.Errorf("the library has %d topology scenarios, want 4 or more", len(topology))
	}
	t.Run("single-node", func(t *testing.T) { runLibrary(t, single, 2*time.Minute) })
	t.Run("topologies", func(t *testing.T) { runLibrary(t, topology, 3*time.Minute) })
}

func runLibrary(t *testing.T, files []string, limit time.Duration) {
	begin := time.Now()
	r := scenario(t, append([]string{"run", "--parallel", "2", "--json"}, files...)...)
	took := time.Since(begin)
	passed := map[string]time.Duration{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev runner.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "scenario-end" && ev.Outcome == runner.OutcomePassed {
			passed[ev.Scenario] = time.Duration(ev.DurationMS * float64(time.Millisecond))
		}
	}
	if r.exit != 0 || len(passed) != len(files) {
		t.Fatalf("exit %d, %d of %d scenarios passed\n%s\n%s", r.exit, len(passed), len(files), r.stdout, r.stderr)
	}
	var names []string
	for n := range passed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("%-32s %s", n, passed[n].Round(10*time.Millisecond))
	}
	t.Logf("%d scenarios with --parallel 2 in %s", len(files), took.Round(100*time.Millisecond))
	if took > limit {
		t.Errorf("these %d scenarios took %s; they must stay under %s", len(files), took, limit)
	}
}
