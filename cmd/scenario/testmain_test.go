package main

import (
	"os"
	"testing"

	"github.com/scenario-tool/scenario/reaper"
)

// The runs the tests start in-process start their reaper from this
// executable, the test binary (startReaper): it serves as the real
// binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == reaper.Arg {
		os.Exit(reaper.Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}
