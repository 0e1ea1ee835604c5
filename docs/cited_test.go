package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testFuncs maps the name of every test function of the repository to
// true, read from its _test.go files.
func testFuncs(t *testing.T) map[string]bool {
	t.Helper()
	funcs := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "logs") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range decl.FindAllSubmatch(src, -1) {
				funcs[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return funcs
}

// The tests and mutants the docs cite as evidence exist: a renamed or
// removed test must take its citation with it (the threat model above
// all). The changelog is history and may name tests that are gone.
func TestCitedTestsAndMutantsExist(t *testing.T) {
	funcs := testFuncs(t)
	mutants, err := os.ReadFile(filepath.Join(root, "e2e/mutation_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	cited := regexp.MustCompile(`\bTest[A-Z]\w+`)
	mutant := regexp.MustCompile(`\*[a-z0-9-]+\.yaml(?: / [a-z0-9-]+\.yaml)*: ("[^"*]+"(?:, "[^"*]+")*)\*`)
	quoted := regexp.MustCompile(`"([^"]+)"`)
	seenMutants := 0
	for _, f := range markdownFiles(t) {
		if strings.HasSuffix(f, "CHANGELOG.md") {
			continue
		}
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range cited.FindAllString(string(text), -1) {
			if !funcs[name] {
				t.Errorf("%s cites %s, which no _test.go defines", f, name)
			}
		}
		for _, m := range mutant.FindAllStringSubmatch(string(text), -1) {
			for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
				seenMutants++
				if !strings.Contains(string(mutants), `name: "`+q[1]+`"`) {
					t.Errorf("%s cites the mutant %q, which e2e/mutation_test.go does not have", f, q[1])
				}
			}
		}
	}
	if seenMutants < 20 {
		t.Errorf("found %d cited mutants; is the scan broken?", seenMutants)
	}
}
