package main

import (
	"os/exec"
	"strings"
	"testing"
)

// gopacket's package initialisation (its layers' tables) cost every
// scenario process, the runner and again its reaper, about 5 ms of CPU
// before main. The wire evidence decodes frames and writes pcap files
// itself (package topology's frames.go and pcap.go); gopacket is only
// its tests' oracle, and the binaries must not link it.
func TestTheRunnerAndBenchLinkNoGopacket(t *testing.T) {
	const module = "github.com/scenario-tool/scenario/"
	args := []string{"list", "-deps", module + "cmd/scenario", module + "bench"}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/google/gopacket" || strings.HasPrefix(dep, "github.com/google/gopacket/") {
			t.Errorf("cmd/scenario or bench depends on %s; keep gopacket in _test.go files (the decoder's oracle), see go list -deps", dep)
		}
	}
}
