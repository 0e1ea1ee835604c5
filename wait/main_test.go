package wait

import (
	"fmt"
	"os"
	"testing"

	"github.com/scenario-tool/scenario/proc"
)

// The processes these tests start are born in cgroups of the test
// binary's run (see proc.Cell): remove it at the end. The binary also
// plays a listener of the group under test (listenVar).
func TestMain(m *testing.M) {
	if addr := os.Getenv(listenVar); addr != "" {
		os.Exit(listen(addr))
	}
	code := m.Run()
	if err := proc.RemoveRunCell(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
