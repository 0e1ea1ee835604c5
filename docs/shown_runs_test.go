package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/steps"
)

// shownRun is a run a page shows: `$ bin/scenario run FILE` and its
// report, with the scenario it ran.
type shownRun struct {
	where    string // page:line
	scenario []byte
	report   string
}

var (
	runBlock    = regexp.MustCompile("(?s)```\n\\$ bin/scenario run (\\S+\\.ya?ml)\n(.*?)```")
	stepLine    = regexp.MustCompile(`^  (ok|FAIL|skip) +(\d+) (\S+) .*\((\S+)\)$`)
	settledNote = regexp.MustCompile(`^ +note: settled: `)
)

// shownRuns finds the runs of one scenario file, without flags, that the
// README and the getting-started and guide pages show. The file is the
// repository's, or else the last whole scenario the page showed before
// the run (the one it said to save).
func shownRuns(t *testing.T) []shownRun {
	t.Helper()
	pages, _ := filepath.Glob(filepath.Join(root, "docs/getting-started/*.md"))
	guides, _ := filepath.Glob(filepath.Join(root, "docs/guides/*.md"))
	pages = append(append(pages, guides...), filepath.Join(root, "README.md"))
	var runs []shownRun
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		yamls := yamlBlock.FindAllSubmatchIndex(text, -1)
		for _, m := range runBlock.FindAllSubmatchIndex(text, -1) {
			file := string(text[m[2]:m[3]])
			where := page + ":" + strconv.Itoa(1+strings.Count(string(text[:m[0]]), "\n"))
			src, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				for _, y := range yamls {
					if y[0] < m[0] && regexp.MustCompile(`(?m)^steps:`).Match(text[y[2]:y[3]]) {
						src = text[y[2]:y[3]]
					}
				}
			}
			if src == nil {
				t.Errorf("%s: shows a run of %s, which is neither in the repository nor shown before the run", where, file)
				continue
			}
			runs = append(runs, shownRun{where: where, scenario: src, report: string(text[m[4]:m[5]])})
		}
	}
	return runs
}

// A shown run has the shape a real one has: a passing expect step that
// gives `within` (an eventual claim, watched for at least
// steps.SettleFloor once it holds) shows its settled: note and a time
// no shorter than that floor. (e2e.TestShownRunsAreWhatARunPrints
// compares the whole reports with real runs.)
func TestShownRunsShowTheSettledNoteOfEventualClaims(t *testing.T) {
	runs := shownRuns(t)
	if len(runs) < 4 {
		t.Fatalf("found %d shown runs; the scan is broken", len(runs))
	}
	for _, run := range runs {
		var file struct {
			Steps []map[string]any `yaml:"steps"`
		}
		if err := yaml.Unmarshal(run.scenario, &file); err != nil {
			t.Errorf("%s: %v", run.where, err)
			continue
		}
		lines := strings.Split(run.report, "\n")
		for i, line := range lines {
			m := stepLine.FindStringSubmatch(line)
			if m == nil || m[1] != "ok" || m[3] != "expect" {
				continue
			}
			n, _ := strconv.Atoi(m[2])
			if n < 1 || n > len(file.Steps) {
				t.Errorf("%s: step %d is not in its scenario", run.where, n)
				continue
			}
			value, _ := file.Steps[n-1]["expect"].(map[string]any)
			if _, eventual := value["within"]; !eventual || value["others-allowed"] == true {
				continue
			}
			took, err := time.ParseDuration(m[4])
			noted := false
			for _, next := range lines[i+1:] {
				if stepLine.MatchString(next) || !strings.HasPrefix(next, "         ") {
					break
				}
				noted = noted || settledNote.MatchString(next)
			}
			if err != nil || took < steps.SettleFloor || !noted {
				t.Errorf("%s: step %d gives within, yet is shown taking %s (at least %s) with settled: note %v; paste a real run:\n%s",
					run.where, n, m[4], steps.SettleFloor, noted, line)
			}
		}
	}
}
