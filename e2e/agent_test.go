package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// clusterToken is the management token of testdata/agent/cluster.yaml.
const clusterToken = "0d2c5a3e-6b1f-4e8a-9c7d-2f4b6a8c0e1d"

// holdCluster brings up the cluster of file with `scenario up`, which
// holds it until the returned stop is called: defer it, so that it runs
// before the checks that nothing is left (t.Cleanup, at the test's end).
func holdCluster(t *testing.T, file string) (stop func()) {
	t.Helper()
	up := exec.Command(scenarioBin, "up", "--logs", t.TempDir(), "--consul", consulBin, file)
	_, lines := startUntil(t, up, "everything is up", "the cluster of "+file+" never came up")
	go func() {
		for lines.Scan() {
		}
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		if up.ProcessState != nil {
			t.Errorf("up %s ended while the test relied on it", file)
		}
		up.Process.Signal(syscall.SIGINT)
		up.Wait()
	}
	t.Cleanup(stop)
	return stop
}

// agentAPI asks the agent at addr, with the cluster's management token.
func agentAPI(t *testing.T, method, addr, path, body string) (int, []byte) {
	t.Helper()
	code, data, _ := askAgent(t, method, addr, path, clusterToken, body)
	return code, data
}

// askAgent sends body to the HTTP API of the agent at addr with token.
func askAgent(t *testing.T, method, addr, path, token, body string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Consul-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header
}

// run --agent: a scenario runs against a cluster it did not start (here,
// one `scenario up` holds), through the sidecars running there; its
// intention change needs --allow-writes and is put back at the end.
func TestAgainstAnExistingCluster(t *testing.T) {
	needMesh(t)
	t.Setenv("CONSUL_HTTP_TOKEN", clusterToken)
	defer holdCluster(t, "testdata/agent/cluster.yaml")()

	// Without --allow-writes, the write is refused before anything runs.
	refused := scenario(t, "run", "--agent", "127.0.0.1:8500", "testdata/agent/gate.yaml")
	refused.mustExit(t, 2)
	if !strings.Contains(refused.stderr, "gate.yaml:8:5: step 3 (set-intention) writes to the live cluster: add --allow-writes") {
		t.Errorf("stderr:\n%s", refused.stderr)
	}
	// What needs a cluster of the scenario's own cannot run against one
	// at all; a command needs --allow-writes.
	starts := scenario(t, "run", "--agent", "127.0.0.1:8500", "testdata/agent/starts-things.yaml")
	starts.mustExit(t, 2)
	outputHas(t, "stderr", starts.stderr, "step 1 (start-agent) cannot run with --agent", "step 2 (run) can change the live cluster in ways the runner cannot undo")

	r := scenario(t, "run", "--agent", "127.0.0.1:8500", "--allow-writes", "testdata/agent/gate.yaml")
	r.mustExit(t, 0)
	outputHas(t, "output", r.stdout, "--- PASS gate", "refused the source's certificate", "put back intention web -> socat deleted again (it did not exist)")
	// The cluster is as it was: no intention web -> socat.
	if code, _ := agentAPI(t, "GET", "127.0.0.1:8500", "/v1/connect/intentions/exact?source=web&destination=socat", ""); code != http.StatusNotFound {
		t.Errorf("after the run, the intention web -> socat answers %d, want 404 (deleted again)", code)
	}
	// An intention that existed is put back as it was: allow, not deleted.
	if code, body := agentAPI(t, "PUT", "127.0.0.1:8500", "/v1/connect/intentions/exact?source=web&destination=socat",
		`{"Action": "allow", "Description": "the team's"}`); code != http.StatusOK {
		t.Fatalf("writing the cluster's own intention: %d %s", code, body)
	}
	again := scenario(t, "run", "--agent", "127.0.0.1:8500", "--allow-writes", "testdata/agent/gate.yaml")
	again.mustExit(t, 0)
	if !strings.Contains(again.stdout, "put back intention web -> socat restored (allow)") {
		t.Errorf("output:\n%s", again.stdout)
	}
	_, body := agentAPI(t, "GET", "127.0.0.1:8500", "/v1/connect/intentions/exact?source=web&destination=socat", "")
	var ixn struct{ Action, Description string }
	if err := json.Unmarshal(body, &ixn); err != nil || ixn.Action != "allow" || ixn.Description != "the team's" {
		t.Errorf("after the run the intention is %+v (%v), want the team's allow back", ixn, err)
	}
}

// Finding 5 of issue 18: under --agent without --allow-writes, a command
// wrote a deny intention and a KV key, and an acl-token step made a live
// token. Each such step is refused before anything runs, at its
// file:line:col, naming the flag; the cluster is untouched.
func TestAgainstAnExistingClusterWritesAreRefusedWithoutAllowWrites(t *testing.T) {
	needMesh(t)
	t.Setenv("CONSUL_HTTP_TOKEN", clusterToken)
	defer holdCluster(t, "testdata/agent/cluster.yaml")()
	tokensBefore := tokenDescriptions(t)

	r := scenario(t, "run", "--agent", "127.0.0.1:8500", "testdata/agent/writes.yaml")
	r.mustExit(t, 2)
	outputHas(t, "stderr", r.stderr,
		"writes.yaml:6:5: step 1 (exec) can change the live cluster in ways the runner cannot undo",
		"add --allow-writes to let it, knowing that what it changes stays changed",
		"writes.yaml:7:5: step 2 (acl-token) writes to the live cluster: add --allow-writes to let it (it is undone at the end)",
	)
	if strings.Contains(r.stdout, "=== RUN") {
		t.Errorf("the scenario ran:\n%s", r.stdout)
	}
	// Offline, validate --agent says the same.
	v := scenario(t, "validate", "--agent", "testdata/agent/writes.yaml")
	v.mustExit(t, 2)
	if !strings.Contains(v.stderr, "step 2 (acl-token) writes to the live cluster") {
		t.Errorf("validate --agent:\n%s", v.stderr)
	}
	if code, _ := agentAPI(t, "GET", "127.0.0.1:8500", "/v1/kv/gate/written", ""); code != http.StatusNotFound {
		t.Errorf("the KV key gate/written answers %d, want 404 (never written)", code)
	}
	if code, _ := agentAPI(t, "GET", "127.0.0.1:8500", "/v1/connect/intentions/exact?source=web&destination=socat", ""); code != http.StatusNotFound {
		t.Errorf("the intention web -> socat answers %d, want 404 (never written)", code)
	}
	if after := tokenDescriptions(t); len(after) != len(tokensBefore) {
		t.Errorf("tokens before %q, after %q", tokensBefore, after)
	}
}

// With --allow-writes, every change a gate makes is put back at the end
// (a token deleted, config entries deleted or written back as they were,
// a registration deregistered, a check set back, a query deleted, an
// intention deleted again), and what a command changed is reported as
// not undone.
func TestAgainstAnExistingClusterEveryWriteIsUndoneOrReported(t *testing.T) {
	needMesh(t)
	t.Setenv("CONSUL_HTTP_TOKEN", clusterToken)
	defer holdCluster(t, "testdata/agent/cluster.yaml")()
	const agent = "127.0.0.1:8500"
	// The cluster's own: a config entry the gate changes, and a TTL check
	// it sets critical.
	for _, w := range []struct{ path, body string }{
		{"/v1/config", `{"Kind": "service-defaults", "Name": "gate-old", "Protocol": "tcp"}`},
		{"/v1/agent/service/register", `{"Name": "team", "ID": "team-1", "Port": 7777, "Check": {"CheckID": "team-ttl", "TTL": "1h", "Status": "passing"}}`},
	} {
		if code, body := agentAPI(t, "PUT", agent, w.path, w.body); code != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", w.path, code, body)
		}
	}
	tokensBefore := tokenDescriptions(t)

	r := scenario(t, "run", "--agent", agent, "--allow-writes", "testdata/agent/writes-undone.yaml")
	r.mustExit(t, 0)
	outputHas(t, "output", r.stdout,
		"cleanup: NOT undone: step 9 (exec) consul kv put gate/written yes (the runner cannot undo what a command changed)",
		"what this command changes in the live cluster stays changed",
		"ACL token gate-token deleted",
		"config entry service-defaults gate-new deleted again (it did not exist)",
		"config entry service-defaults gate-old written back as it was",
		"service gate-svc-1 deregistered",
		"check team-ttl set back to passing",
		"prepared query gate-pq deleted",
		"intention web -> socat deleted again",
	)
	if after := tokenDescriptions(t); len(after) != len(tokensBefore) {
		t.Errorf("tokens before %q, after %q: the gate's token was not deleted", tokensBefore, after)
	}
	if code, _ := agentAPI(t, "GET", agent, "/v1/config/service-defaults/gate-new", ""); code != http.StatusNotFound {
		t.Errorf("config entry gate-new answers %d, want 404", code)
	}
	_, body := agentAPI(t, "GET", agent, "/v1/config/service-defaults/gate-old", "")
	var entry struct{ Protocol string }
	if json.Unmarshal(body, &entry); entry.Protocol != "tcp" {
		t.Errorf("config entry gate-old is %s, want its own tcp back", body)
	}
	if code, _ := agentAPI(t, "GET", agent, "/v1/agent/service/gate-svc-1", ""); code != http.StatusNotFound {
		t.Errorf("service gate-svc-1 answers %d, want 404 (deregistered)", code)
	}
	_, body = agentAPI(t, "GET", agent, "/v1/agent/checks", "")
	var checks map[string]struct{ Status string }
	if json.Unmarshal(body, &checks); checks["team-ttl"].Status != "passing" {
		t.Errorf("check team-ttl is %+v, want passing back", checks["team-ttl"])
	}
	_, body = agentAPI(t, "GET", agent, "/v1/query", "")
	if strings.Contains(string(body), "gate-pq") {
		t.Errorf("prepared query gate-pq is still there: %s", body)
	}
	if code, _ := agentAPI(t, "GET", agent, "/v1/connect/intentions/exact?source=web&destination=socat", ""); code != http.StatusNotFound {
		t.Errorf("the intention web -> socat answers %d, want 404", code)
	}
	// What the command wrote stays, as the report says.
	if code, _ := agentAPI(t, "GET", agent, "/v1/kv/gate/written", ""); code != http.StatusOK {
		t.Errorf("the KV key gate/written answers %d; the command did write it", code)
	}

	// A registration the cluster has is not replaced (it could not be
	// put back exactly): the step fails, and the cluster's stays.
	replace := filepath.Join(t.TempDir(), "replace.yaml")
	if err := os.WriteFile(replace, []byte("name: replace\nsteps:\n  - register: {service: {name: team, id: team-1, port: 7778}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := scenario(t, "run", "--agent", agent, "--allow-writes", replace)
	refused.mustExit(t, 1)
	if !strings.Contains(refused.stdout, "the agent already has a service with ID team-1 (team): registering would replace the cluster's own") {
		t.Errorf("output:\n%s", refused.stdout)
	}
	_, body = agentAPI(t, "GET", agent, "/v1/agent/service/team-1", "")
	var team struct{ Port int }
	if json.Unmarshal(body, &team); team.Port != 7777 {
		t.Errorf("team-1 is now %s, want the cluster's own (port 7777)", body)
	}
}

func tokenDescriptions(t *testing.T) []string {
	t.Helper()
	code, body := agentAPI(t, "GET", "127.0.0.1:8500", "/v1/acl/tokens", "")
	if code != http.StatusOK {
		t.Fatalf("listing tokens: %d %s", code, body)
	}
	var tokens []struct{ Description string }
	if err := json.Unmarshal(body, &tokens); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tok := range tokens {
		out = append(out, tok.Description)
	}
	return out
}

// Finding 6 of issue 18: run --agent against cluster B (no sidecars, web
// -> socat denied) passed "web reaches socat" through cluster A's proxy,
// which listened on the port B's registration names. A probe's proxy must
// be shown to be the --agent cluster's: here its leaf chains to A's CA,
// not B's; and with A's web service down (the tester's setup) it presents
// no certificate at all, which proves nothing either.
func TestAgainstTheWrongClusterAProbeFailsNamingWhatAnswered(t *testing.T) {
	needMesh(t)
	defer holdCluster(t, "testdata/agent/cluster-b.yaml")()
	for _, c := range []struct{ cluster, want string }{
		{"testdata/agent/cluster.yaml", "does not chain to that cluster's CA roots"},
		{"scenarios/basic.yaml", "cannot be shown to be the sidecar of web of the cluster at 127.0.0.1:8510: no certificate presented on 127.0.0.1:21001"},
	} {
		stop := holdCluster(t, c.cluster)
		if c.cluster == "testdata/agent/cluster.yaml" {
			// A's own probe passes through A's sidecars: the setup is sound.
			t.Setenv("CONSUL_HTTP_TOKEN", clusterToken)
			scenario(t, "run", "--agent", "127.0.0.1:8500", "testdata/agent/reach.yaml").mustExit(t, 0)
			t.Setenv("CONSUL_HTTP_TOKEN", "")
		}
		r := scenario(t, "run", "--agent", "127.0.0.1:8510", "testdata/agent/reach.yaml")
		stop()
		r.mustExit(t, 1)
		outputHas(t, "with "+c.cluster+" beside: output", r.stdout,
			"FAIL  1 expect           web reaches socat through the running sidecars",
			"the Connect proxy on 127.0.0.1:9191 (pid ",
			"connect proxy -sidecar-for web",
			c.want,
		)
	}
}

// The other shapes of a wrong proxy on the right cluster: a registration
// whose upstream port another service's sidecar holds, with the right CA
// but the wrong identity, and one whose public listener is not the
// proxy's.
func TestAgainstAnExistingClusterAnotherServicesProxyFails(t *testing.T) {
	needMesh(t)
	t.Setenv("CONSUL_HTTP_TOKEN", clusterToken)
	defer holdCluster(t, "testdata/agent/cluster.yaml")()
	const agent = "127.0.0.1:8500"
	// web2's registration names web's ports: 9191 for its upstream socat,
	// 21001 for its sidecar; web3's names 9191 and a port nobody holds.
	for _, reg := range []string{
		`{"Name": "web2", "Port": 8080, "Connect": {"SidecarService": {"Port": 21001, "Proxy": {"Upstreams": [{"DestinationName": "socat", "LocalBindPort": 9191}]}}}}`,
		`{"Name": "web3", "Port": 8080, "Connect": {"SidecarService": {"Port": 21999, "Proxy": {"Upstreams": [{"DestinationName": "socat", "LocalBindPort": 9191}]}}}}`,
	} {
		if code, body := agentAPI(t, "PUT", agent, "/v1/agent/service/register", reg); code != http.StatusOK {
			t.Fatalf("registering: %d %s", code, body)
		}
	}
	for service, want := range map[string]string{
		"web2": "the leaf it presents on 127.0.0.1:21001 names spiffe://",
		"web3": "that registration's public listener is 127.0.0.1:21999, and nothing listens there",
	} {
		dir := t.TempDir()
		file := dir + "/reach-" + service + ".yaml"
		src := "name: reach-" + service + "\nsteps:\n  - expect: {to: " + service + "/socat, send: \"hello\\n\", reply: \"hello\\n\"}\n"
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		r := scenario(t, "run", "--agent", agent, file)
		r.mustExit(t, 1)
		outputHas(t, service+": output", r.stdout, "is not the sidecar of "+service, want)
		if service == "web2" && !strings.Contains(r.stdout, "/svc/web, not spiffe://") {
			t.Errorf("web2: the failure does not name web's identity:\n%s", r.stdout)
		}
	}
}
