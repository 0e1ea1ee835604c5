package steps

import (
	"fmt"
	"os"
	"testing"

	"github.com/scenario-tool/scenario/proc"
)

// The processes these tests start are born in cgroups of the test
// binary's run (see proc.Cell): remove it at the end. The binary also
// plays an impostor of a Connect proxy (impostorVar).
func TestMain(m *testing.M) {
	if os.Getenv(impostorVar) != "" {
		os.Exit(listenUntilStdinCloses())
	}
	code := m.Run()
	if err := proc.RemoveRunCell(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
