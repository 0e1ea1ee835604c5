package runner

import (
	"fmt"
	"os"
	"testing"

	"github.com/scenario-tool/scenario/proc"
)

// The processes these tests start are born in cgroups of the test
// binary's run (see proc.Cell): remove it at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := proc.RemoveRunCell(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
