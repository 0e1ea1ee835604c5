package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's first scenario passes, and its report is the one the
// README shows: the same lines, step for step, but for times, process ids
// and paths.
func TestReadmeFirstScenarioPassesAsShown(t *testing.T) {
	needMesh(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	yamlBlock := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(readme)
	shown := regexp.MustCompile("(?s)```\n\\$ bin/scenario run hello.yaml\n(.*?)```").FindSubmatch(readme)
	if yamlBlock == nil || shown == nil {
		t.Fatal("README.md lacks its first scenario (a yaml block) or its report (a block beginning `$ bin/scenario run hello.yaml`)")
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(repoRoot, "consul.d"), filepath.Join(dir, "consul.d")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "hello.yaml")
	if err := os.WriteFile(file, yamlBlock[1], 0o644); err != nil {
		t.Fatal(err)
	}
	r := scenario(t, "run", "--no-color", file)
	r.mustExit(t, 0)
	normal := func(report string) string {
		report = strings.ReplaceAll(report, dir+"/", "") // the file and its definitions, as given from the repository's root
		report = strings.ReplaceAll(report, filepath.Join(r.logs, "hello"), "logs/hello")
		report = regexp.MustCompile(`\d+(\.\d+)?(ns|µs|ms|s)\b`).ReplaceAllString(report, "T")
		// How many connections a settling claim saw varies from run to run.
		report = regexp.MustCompile(`(\d+) (connections? having done otherwise|in the T after)`).ReplaceAllString(report, "N $2")
		return regexp.MustCompile(`pid \d+`).ReplaceAllString(report, "pid N")
	}
	if got, want := normal(r.stdout), normal(string(shown[1])); got != want {
		t.Errorf("the README shows another report than its scenario gives; run it and paste the report:\ngot:\n%s\nREADME:\n%s", got, want)
	}
}
