package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/runner"
)

// A claim's settle window runs while the steps after it that only look
// do; contrary evidence that comes during it still fails the scenario at
// the watched step. The backend answers five connections, then closes
// every new one with no reply: the probe's claim holds at once, and its
// watch meets the closes while the intention check and the loopback look
// after it have begun (the look has ended, and is reported as having run
// beside the failed step).
func TestContraryEvidenceDuringAWatchBesideLaterStepsFailsTheWatchedStep(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	count := filepath.Join(dir, "connections")
	backend := fmt.Sprintf(`socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork SYSTEM:'echo >> %s; [ $(wc -l < %s) -le 5 ] && exec cat'`, count, count)
	src := "name: watch-beside\nsteps:\n" +
		"  - start-agent: {args: [-hcl, 'performance { rpc_hold_timeout = \"1s\" }']}\n" +
		"  - register: " + filepath.Join(repoRoot, "consul.d", "socat.json") + "\n" +
		"  - register: " + filepath.Join(repoRoot, "consul.d", "web.json") + "\n" +
		"  - run: {name: socat, command: " + strconvQuote(backend) + ", ready: 127.0.0.1:8181}\n" +
		"  - sidecar: socat\n" +
		"  - sidecar: web\n" +
		"  - expect: {to: web/socat, send: \"x\\n\", reply-prefix: \"x\\n\", within: 5s}\n" +
		"  - expect: {intention: {source: web, destination: socat}, allowed: true, within: 5s}\n" +
		"  - expect: {loopback-only: socat}\n"
	file := writeScenario(t, dir, "watch-beside.yaml", src)
	r := scenario(t, "run", "--json", file)
	r.mustExit(t, 1)
	ends := map[int]runner.StepEvent{}
	failedStep := 0
	lines := bufio.NewScanner(strings.NewReader(r.stdout))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var ev runner.Event
		if json.Unmarshal(lines.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case ev.Event == "step-end" && ev.Step != nil:
			ends[ev.Step.Index] = *ev.Step
		case ev.Event == "scenario-end":
			failedStep = ev.FailedStep
		}
	}
	watched, look := ends[7], ends[9]
	if failedStep != 7 || watched.Outcome != runner.OutcomeFailed || !strings.Contains(watched.Error, "once it has held fails the step") ||
		!strings.Contains(watched.Error, "with no reply") {
		t.Fatalf("the scenario did not fail at the watched step 7 on the close that came during its watch (failed step %d):\n%+v\n%s", failedStep, watched, r.stdout)
	}
	if look.Outcome != runner.OutcomePassed || !strings.Contains(strings.Join(look.Notes, "\n"), "it ran while step 7 was still settling, before that step failed") {
		t.Errorf("step 9 did not run beside step 7's watch:\n%+v", look)
	}
	if check := ends[8]; check.Outcome != runner.OutcomeSkipped {
		t.Errorf("step 8, still watching when step 7 failed, is reported %q, not skipped", check.Outcome)
	}
}
