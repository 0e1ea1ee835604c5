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

	"github.com/scenario-tool/scenario/runner"
)

// The whole scenario library passes, two scenarios at a time (each in its
// own network namespace), as `make test` promises: every fact it states
// is proven against the real mesh on every run.
func TestLibraryPassesInParallel(t *testing.T) {
	files, err := filepath.Glob("scenarios/*.yaml")
	if err != nil || len(files) < 20 {
		t.Fatalf("the library has %d scenarios, want 20 or more: %v", len(files), err)
	}
	begin := time.Now()
	r := scenario(t, "run", "--parallel", "2", "--json", "scenarios")
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
		t.Logf("%-28s %s", n, passed[n].Round(10*time.Millisecond))
	}
	t.Logf("%d scenarios with --parallel 2 in %s", len(files), took.Round(100*time.Millisecond))
	if took > 2*time.Minute {
		t.Errorf("the library took %s; it must stay under 2 minutes", took)
	}
}

// The README's catalogue lists every scenario of the library, so that a
// reader finds each fact and how long it takes to prove.
func TestReadmeCatalogueListsEveryScenario(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("scenarios/*.yaml")
	for _, f := range files {
		row := regexp.MustCompile("(?m)^\\| \\[`" + regexp.QuoteMeta(strings.TrimSuffix(filepath.Base(f), ".yaml")) + "`\\]")
		if !row.Match(readme) {
			t.Errorf("README.md's catalogue has no row for %s", f)
		}
	}
}
