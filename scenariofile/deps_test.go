package scenariofile

import (
	"os/exec"
	"strings"
	"testing"
)

// kernelModules are the packages that reach into the kernel's networking
// (netlink, nftables, namespaces) or capture frames (gopacket): a run
// needs them, reading and validating a scenario file must not.
var kernelModules = []string{
	"github.com/vishvananda/netlink",
	"github.com/vishvananda/netns",
	"github.com/google/nftables",
	"github.com/mdlayher/netlink",
	"github.com/google/gopacket",
	"github.com/scenario-tool/scenario/topology",
	"github.com/scenario-tool/scenario/netns",
}

// Loading a scenario (scenariofile), validating it (steps' build
// functions, spec, consuldef) and the wire values the steps read (flows)
// must stay free of the kernel: `validate` runs anywhere, and a loader
// that linked netlink would drag the capture's code into every tool
// that reads a scenario.
func TestLoadingAScenarioLinksNoKernelNetworking(t *testing.T) {
	const module = "github.com/scenario-tool/scenario/"
	args := []string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}
	for _, pkg := range []string{"scenariofile", "scenariofile/spec", "steps", "consuldef", "flows"} {
		args = append(args, module+pkg)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		deps := strings.Fields(line)
		for _, dep := range deps[1:] {
			for _, bad := range kernelModules {
				if dep == bad || strings.HasPrefix(dep, bad+"/") {
					t.Errorf("%s depends on %s; keep kernel networking out of loading and validation (the wire's values live in package flows; see go list -deps %s)", deps[0], dep, deps[0])
				}
			}
		}
	}
}
