package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The passing runs the getting-started pages show are what a run of
// their scenario prints: the same lines, step for step, notes included,
// but for times, counts of a settling claim, process ids and paths. (The
// README's is TestReadmeFirstScenarioPassesAsShown; a page's copy of it is
// checked here too.)
func TestShownRunsAreWhatARunPrints(t *testing.T) {
	needMesh(t)
	pages, _ := filepath.Glob("docs/getting-started/*.md")
	runBlock := regexp.MustCompile("(?s)```\n\\$ bin/scenario run (\\S+\\.ya?ml)\n(.*?)```")
	yamlBlock := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	seen := 0
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range runBlock.FindAllSubmatchIndex(text, -1) {
			shown := string(text[m[4]:m[5]])
			if !strings.Contains(shown, "\n--- PASS ") {
				continue // a failure's evidence is compared by the tests of failures
			}
			where := page + ":" + strconv.Itoa(1+strings.Count(string(text[:m[0]]), "\n"))
			file, dir := string(text[m[2]:m[3]]), ""
			if _, err := os.Stat(file); err != nil {
				// The last whole scenario shown before the run: the one
				// the page said to save, beside consul.d.
				var src []byte
				for _, y := range yamlBlock.FindAllSubmatchIndex(text, -1) {
					if y[0] < m[0] && regexp.MustCompile(`(?m)^steps:`).Match(text[y[2]:y[3]]) {
						src = text[y[2]:y[3]]
					}
				}
				dir = t.TempDir()
				if err := os.Symlink(filepath.Join(repoRoot, "consul.d"), filepath.Join(dir, "consul.d")); err != nil {
					t.Fatal(err)
				}
				file = filepath.Join(dir, file)
				if err := os.WriteFile(file, src, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			seen++
			r := scenario(t, "run", "--no-color", file)
			r.mustExit(t, 0)
			if got, want := normalReport(r.stdout, dir, r.logs), normalReport(shown, "", "logs"); got != want {
				t.Errorf("%s shows another report than its scenario gives; run it and paste the report:\ngot:\n%s\nshown:\n%s", where, got, want)
			}
		}
	}
	if seen < 3 {
		t.Errorf("found %d passing runs on the getting-started pages; the scan is broken", seen)
	}
}

// normalReport is a report without what changes from run to run: times,
// how many attempts a settling claim saw, process ids, and the folders of
// the scenario (dir, when not the repository) and of the logs.
func normalReport(report, dir, logs string) string {
	if dir != "" {
		report = strings.ReplaceAll(report, dir+"/", "")
	}
	report = strings.ReplaceAll(report, logs+"/", "logs/")
	report = regexp.MustCompile(`\d+(\.\d+)?(ns|µs|ms|s)\b`).ReplaceAllString(report, "T")
	report = regexp.MustCompile(`(\d+) ((connections?|checks?) having done otherwise|in the T after)`).ReplaceAllString(report, "N $2")
	return regexp.MustCompile(`pid \d+`).ReplaceAllString(report, "pid N")
}
