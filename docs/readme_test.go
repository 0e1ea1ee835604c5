package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// The README is a first screen: at most 200 lines, its first scenario
// near the top, and the command CI runs stated.
func TestReadmeIsAFirstScreen(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(readme), "\n"), "\n")
	if len(lines) > 200 {
		t.Errorf("README.md has %d lines; keep it to 200 and move the rest to docs/", len(lines))
	}
	first := -1
	for i, l := range lines {
		if l == "```yaml" {
			first = i + 1
			break
		}
	}
	if first < 0 || first > 60 {
		t.Errorf("README.md's first scenario is at line %d; it belongs on the first screen (line 60 at the latest)", first)
	}
	for _, want := range []string{"make setup", "make test"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Every whole scenario that the README and the getting-started pages show
// is valid, read from the top of the repository as they say to save it.
// (e2e.TestReadmeFirstScenarioPassesAsShown runs the README's.)
func TestShownScenariosAreValid(t *testing.T) {
	pages, _ := filepath.Glob(filepath.Join(root, "docs/getting-started/*.md"))
	pages = append(pages, filepath.Join(root, "README.md"))
	dir := t.TempDir()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(abs, "consul.d"), filepath.Join(dir, "consul.d")); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllSubmatch(text, -1) {
			src := m[1]
			if !regexp.MustCompile(`(?m)^steps:`).Match(src) {
				continue // a fragment, not a whole scenario
			}
			seen++
			file := filepath.Join(dir, "shown.yaml")
			if err := os.WriteFile(file, src, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := scenariofile.Load(file, steps.Default()); err != nil {
				t.Errorf("%s: scenario %d is invalid:\n%v", page, i+1, err)
			}
		}
	}
	if seen < 3 {
		t.Errorf("found %d whole scenarios in the README and getting-started; the scan is broken", seen)
	}
}
