package wait

import (
	"go/build"
	"slices"
	"testing"
)

// wait is below the runner's machinery: it reads the run's mark through
// proc and must not pull in the reaper (which imports the runner's
// process management and namespaces).
func TestWaitDoesNotImportTheReaper(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(pkg.Imports, "github.com/scenario-tool/scenario/reaper") {
		t.Error("wait imports reaper; read the run's mark through proc.Mark instead")
	}
}
