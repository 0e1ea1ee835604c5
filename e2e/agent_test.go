package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// run --agent: a scenario runs against a cluster it did not start (here,
// one `scenario up` holds), through the sidecars running there; its
// intention change needs --allow-writes and is put back at the end.
func TestAgainstAnExistingCluster(t *testing.T) {
	needMesh(t)
	up := exec.Command(scenarioBin, "up", "--logs", t.TempDir(), "--consul", consulBin, "scenarios/basic.yaml")
	_, lines := startUntil(t, up, "everything is up", "the cluster never came up")
	go func() {
		for lines.Scan() {
		}
	}()
	defer func() {
		up.Process.Signal(syscall.SIGINT)
		up.Wait()
	}()

	// Without --allow-writes, the write is refused before anything runs.
	refused := scenario(t, "run", "--agent", "127.0.0.1:8500", "testdata/agent/gate.yaml")
	refused.mustExit(t, 2)
	if !strings.Contains(refused.stderr, "gate.yaml:8:5: step 3 (set-intention) writes to the live cluster: add --allow-writes") {
		t.Errorf("stderr:\n%s", refused.stderr)
	}
	// What starts processes cannot run against a cluster at all.
	starts := scenario(t, "run", "--agent", "127.0.0.1:8500", "testdata/agent/starts-things.yaml")
	starts.mustExit(t, 2)
	for _, want := range []string{"step 1 (start-agent) cannot run with --agent", "step 2 (run) cannot run with --agent"} {
		if !strings.Contains(starts.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, starts.stderr)
		}
	}

	r := scenario(t, "run", "--agent", "127.0.0.1:8500", "--allow-writes", "testdata/agent/gate.yaml")
	r.mustExit(t, 0)
	for _, want := range []string{"--- PASS gate", "refused the source's certificate", "put back intention web -> socat deleted again (it did not exist)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The cluster is as it was: no intention web -> socat.
	resp, err := http.Get("http://127.0.0.1:8500/v1/connect/intentions/exact?source=web&destination=socat")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("after the run, the intention web -> socat answers %d, want 404 (deleted again)", resp.StatusCode)
	}
	// An intention that existed is put back as it was: allow, not deleted.
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:8500/v1/connect/intentions/exact?source=web&destination=socat",
		strings.NewReader(`{"Action": "allow", "Description": "the team's"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("writing the cluster's own intention: %v %v", resp, err)
	}
	again := scenario(t, "run", "--agent", "127.0.0.1:8500", "--allow-writes", "testdata/agent/gate.yaml")
	again.mustExit(t, 0)
	if !strings.Contains(again.stdout, "put back intention web -> socat restored (allow)") {
		t.Errorf("output:\n%s", again.stdout)
	}
	resp, err = http.Get("http://127.0.0.1:8500/v1/connect/intentions/exact?source=web&destination=socat")
	if err != nil {
		t.Fatal(err)
	}
	var ixn struct{ Action, Description string }
	err = json.NewDecoder(resp.Body).Decode(&ixn)
	resp.Body.Close()
	if err != nil || ixn.Action != "allow" || ixn.Description != "the team's" {
		t.Errorf("after the run the intention is %+v (%v), want the team's allow back", ixn, err)
	}
	// And the cluster's processes were not touched: up still holds them.
	if up.ProcessState != nil {
		t.Fatalf("up ended during the run")
	}
}
