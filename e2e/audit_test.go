package e2e

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/runner"
)

// aclManagement is the management token acl-service-identities.yaml gives
// its agent.
const aclManagement = "5b7d3f0a-1c2e-4d6f-8a9b-0c1d2e3f4a5b"

// consulAPI asks the agent at 127.0.0.1:8500 with token.
func consulAPI(t *testing.T, method, path, token, body string) (int, []byte, http.Header) {
	t.Helper()
	return askAgent(t, method, "127.0.0.1:8500", path, token, body)
}

// clusterState is what an audit must not change: intentions, config
// entries, the catalog (services, their instances, the checks' statuses),
// ACL tokens, and the indexes Consul keeps of each.
func clusterState(t *testing.T, token string) map[string]string {
	t.Helper()
	state := map[string]string{}
	get := func(path string) []byte {
		code, data, h := consulAPI(t, http.MethodGet, path, token, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, data)
		}
		state[path+" index"] = h.Get("X-Consul-Index")
		return data
	}
	for _, path := range []string{"/v1/connect/intentions", "/v1/config/service-intentions", "/v1/config/service-defaults",
		"/v1/config/proxy-defaults", "/v1/acl/tokens", "/v1/agent/services"} {
		state[path] = string(get(path))
	}
	var services map[string][]string
	if err := json.Unmarshal(get("/v1/catalog/services"), &services); err != nil {
		t.Fatal(err)
	}
	state["/v1/catalog/services"] = fmt.Sprint(services)
	for name := range services {
		path := "/v1/catalog/service/" + name
		state[path] = string(get(path))
	}
	var checks []struct{ Node, CheckID, ServiceID, Status string }
	if err := json.Unmarshal(get("/v1/health/state/any"), &checks); err != nil {
		t.Fatal(err)
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].Node+checks[i].CheckID < checks[j].Node+checks[j].CheckID })
	state["checks"] = fmt.Sprint(checks)
	// A check's own output may change with time; its status may not.
	delete(state, "/v1/health/state/any index")
	return state
}

// settledClusterState is clusterState once it has stayed the same across
// a blocking query's wait of 2 s: a cluster just up still syncs (virtual
// addresses, check updates), which is not an audit's doing.
func settledClusterState(t *testing.T, token string) map[string]string {
	t.Helper()
	state := clusterState(t, token)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		// Paces the comparison: returns after 2 s, or sooner if the
		// service list changes.
		consulAPI(t, http.MethodGet, "/v1/catalog/services?wait=2s&index="+state["/v1/catalog/services index"], token, "")
		next := clusterState(t, token)
		if reflect.DeepEqual(state, next) {
			return next
		}
		state = next
	}
	t.Fatal("the cluster's state did not settle for 2 s within 30 s")
	return nil
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func audit(t *testing.T, args ...string) result {
	t.Helper()
	return scenario(t, append([]string{"audit", "--agent", "127.0.0.1:8500"}, args...)...)
}

// scenario audit against a live cluster (one `scenario up` holds, with
// ACLs on): a true table passes, a wrong declared cell fails naming it, a
// token that may not get a source's leaf leaves that source not probed
// (never passed), every format reports every cell, bad input exits 2, and
// the cluster's intentions, config entries, catalog and tokens are as
// they were before.
func TestAuditOfALiveClusterIsReadOnly(t *testing.T) {
	needMesh(t)
	defer holdCluster(t, "scenarios/acl-service-identities.yaml")()
	// A token with service:write on web and socat only, made before the
	// cluster's state is taken.
	code, data, _ := consulAPI(t, http.MethodPut, "/v1/acl/token", aclManagement, `{"Description": "audit e2e", "ServiceIdentities": [{"ServiceName": "web"}, {"ServiceName": "socat"}]}`)
	if code != http.StatusOK {
		t.Fatalf("creating the restricted token: %d %s", code, data)
	}
	var restricted struct{ AccessorID, SecretID string }
	if err := json.Unmarshal(data, &restricted); err != nil {
		t.Fatal(err)
	}
	defer consulAPI(t, http.MethodDelete, "/v1/acl/token/"+restricted.AccessorID, aclManagement, "")
	before := settledClusterState(t, aclManagement)

	good := writeFile(t, "good.yaml", "web:   {socat: allow}\napi:   {socat: deny}\nrogue: {socat: deny}\n")
	r := audit(t, "--token", aclManagement, "--expect", good)
	r.mustExit(t, 0)
	outputHas(t, "a true table", r.stdout, "read-only", "evidence: handshake", "web               allow", "api               deny", "rogue (stranger)  deny",
		"intention web => socat allow (precedence 9) for web -> socat", "no intention matches: Consul's default, deny (acl default_policy is deny) for api -> socat, rogue -> socat",
		"3 cells in", "3 agree, 0 do not, 0 not probed")
	if strings.Contains(r.stdout+r.stderr, aclManagement) {
		t.Errorf("the token is shown:\n%s\n%s", r.stdout, r.stderr)
	}

	wrong := writeFile(t, "wrong.yaml", "web:   {socat: allow}\napi:   {socat: allow}\nrogue: {socat: deny}\n")
	r = audit(t, "--token", aclManagement, "--expect", wrong)
	r.mustExit(t, 1)
	outputHas(t, "a wrong declared cell", r.stdout, "api               deny!(D:allow)", "api -> socat: observed deny, declared allow",
		"refused the source's certificate (TLS alert: bad certificate)", "2 agree, 1 do not")

	// The restricted token may get web's leaf, not api's or a stranger's.
	r = audit(t, "--token", restricted.SecretID, "--from", "web,api,rogue", "--to", "socat")
	r.mustExit(t, 1)
	outputHas(t, "a token without api's leaf", r.stdout, "api               not-probed!", "not probed (a source whose leaf certificate the token may not get is never passed)",
		"api: the agent gave no leaf certificate for api", "Permission denied", "1 agree, 0 do not, 2 not probed")
	r = audit(t, "--token", restricted.SecretID, "--from", "web,api,rogue", "--to", "socat", "--allow-unprobed")
	r.mustExit(t, 0)
	outputHas(t, "--allow-unprobed", r.stdout, "2 not probed (allowed by --allow-unprobed)")

	// A round trip, and every format.
	r = audit(t, "--token", aclManagement, "--expect", good, "--send", `ping\n`, "--format", "json")
	r.mustExit(t, 0)
	var report struct {
		Evidence string
		Agree    bool
		Cells    []struct {
			Source, Destination, Observed, Evidence string
			Holds                                   bool
			Predicted                               struct{ Verdict, Explain string }
			Instances                               []struct{ Verdict, Level string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || !report.Agree || len(report.Cells) != 3 || !strings.HasPrefix(report.Evidence, "round trip") {
		t.Fatalf("json (%v):\n%s", err, r.stdout)
	}
	if c := report.Cells[0]; c.Source != "web" || c.Observed != "allow" || c.Evidence != "round trip" || !c.Holds || c.Predicted.Verdict != "allow" || len(c.Instances) != 1 {
		t.Errorf("web -> socat: %+v", c)
	}
	r = audit(t, "--token", aclManagement, "--expect", wrong, "--format", "junit")
	r.mustExit(t, 1)
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(r.stdout), &suites); err != nil || suites.Tests != 4 || suites.Failures != 2 {
		t.Fatalf("junit (%v): %+v\n%s", err, suites, r.stdout)
	}
	if c := suites.Suites[0].Cases[2]; c.Name != "01 audit: reachability / api -> socat" || c.Failure == nil {
		t.Errorf("junit's api -> socat: %+v", c)
	}
	r = audit(t, "--token", aclManagement, "--expect", good, "--format", "test2json")
	r.mustExit(t, 0)
	var passed []string
	lines := bufio.NewScanner(strings.NewReader(r.stdout))
	for lines.Scan() {
		var e runner.TestEvent
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("test2json: %v: %s", err, lines.Text())
		}
		if e.Action == "pass" && strings.Contains(e.Test, "/") {
			passed = append(passed, e.Test[strings.LastIndex(e.Test, "/")+1:])
		}
	}
	if got := strings.Join(passed, " "); got != "web_->_socat api_->_socat rogue_->_socat 01_audit_reachability" {
		t.Errorf("test2json's passed subtests: %s", got)
	}

	// Bad input: exit 2, with where and what.
	bad := writeFile(t, "bad.yaml", "web: {socat: permit}\n")
	r = audit(t, "--expect", bad)
	r.mustExit(t, 2)
	outputHas(t, "a bad table", r.stderr, bad+`:1:14: the table.web.socat: "permit" is not one of allow, deny`)
	for _, args := range [][]string{{"--format", "xml"}, {"--proxy", "envoy"}, {"extra"}} {
		r = audit(t, args...)
		r.mustExit(t, 2)
	}
	r = scenario(t, "audit", "--agent", "127.0.0.1:1")
	r.mustExit(t, 2)
	outputHas(t, "no agent", r.stderr, "does not answer as a Consul agent")

	// The step does the same through run --agent.
	t.Setenv("CONSUL_HTTP_TOKEN", aclManagement)
	r = scenario(t, "run", "--agent", "127.0.0.1:8500", "testdata/agent/table.yaml")
	r.mustExit(t, 0)
	outputHas(t, "run --agent", r.stdout, "web               allow", "rogue (stranger)  deny", "3 cells hold at every passing instance (socat: 1;", "not checked from here")

	if after := clusterState(t, aclManagement); !reflect.DeepEqual(before, after) {
		for k := range before {
			if before[k] != after[k] {
				t.Errorf("the audits changed %s:\nbefore: %s\nafter:  %s", k, before[k], after[k])
			}
		}
	}
}

// meshOf writes a scenario of n Connect services s01..sNN, each with an
// echo backend and a sidecar, `* -> *` denied and each allowed to the
// next: an n x n table with both verdicts.
func meshOf(t *testing.T, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: mesh-of-%d\nsteps:\n  - start-agent: {args: [-hcl, 'performance { rpc_hold_timeout = \"1s\" }']}\n  - register:\n      services:\n", n)
	name := func(i int) string { return fmt.Sprintf("s%02d", i%n+1) }
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "        - {name: %s, port: %d, address: 127.0.0.1, connect: {sidecar_service: {address: 127.0.0.1, checks: [{name: follows, alias_service: %s, status: passing}]}}}\n", name(i), 9001+i, name(i))
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - run: {name: %s, command: \"socat TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: 127.0.0.1:%d}\n", name(i), 9001+i, 9001+i)
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - sidecar: %s\n", name(i))
	}
	b.WriteString("  - set-intention: {source: \"*\", destination: \"*\", action: deny}\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - set-intention: {source: %s, destination: %s, action: allow}\n", name(i), name(i+1))
	}
	return writeFile(t, fmt.Sprintf("mesh-of-%d.yaml", n), b.String())
}

// The audit of a mesh of 20 Connect services, every pair of them (400
// cells, each service found in the catalog), takes under 10 s on this
// 2-core machine, at the handshake and with a round trip.
func TestAuditOf400CellsTakesUnder10Seconds(t *testing.T) {
	needMesh(t)
	defer holdCluster(t, meshOf(t, 20))()
	for _, args := range [][]string{nil, {"--send", `ping\n`}} {
		start := time.Now()
		r := audit(t, append([]string{"--format", "json"}, args...)...)
		took := time.Since(start)
		r.mustExit(t, 0)
		var report struct {
			Cells      []struct{ Observed string }
			DurationMS float64 `json:"duration_ms"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || len(report.Cells) != 400 {
			t.Fatalf("%d cells (%v):\n%s", len(report.Cells), err, r.stdout)
		}
		allowed := 0
		for _, c := range report.Cells {
			if c.Observed == "allow" {
				allowed++
			}
		}
		if allowed != 20 {
			t.Errorf("%d cells allowed, want the 20 intentions' (and every other denied)", allowed)
		}
		t.Logf("audit %v: 400 cells in %s (probing %.0f ms)", args, took.Round(time.Millisecond), report.DurationMS)
		if took > 10*time.Second {
			t.Errorf("400 cells took %s, want under 10s", took)
		}
	}
}

// An instance that does not enforce (a TLS server holding socat's valid
// leaf that accepts any client, in place of one of socat's two sidecars)
// shows as a split cell from outside: the real sidecar refuses api and a
// stranger, the impostor lets them through; web, allowed, agrees.
func TestAuditCatchesAnInstanceThatDoesNotEnforce(t *testing.T) {
	needMesh(t, testenv.Programs("curl", "perl")...)
	defer holdCluster(t, "testdata/e2e/lax-instance.yaml")()
	table := writeFile(t, "table.yaml", "web:   {socat: allow}\napi:   {socat: deny}\nrogue: {socat: deny}\n")
	for _, args := range [][]string{nil, {"--send", `ping\n`}} {
		r := audit(t, append([]string{"--expect", table}, args...)...)
		r.mustExit(t, 1)
		outputHas(t, fmt.Sprintf("audit %v", args), r.stdout, "web               allow\n", "api               split(allow:1,deny:1)!(P:deny D:deny)", "rogue (stranger)  split(allow:1,deny:1)!(P:deny D:deny)",
			"api -> socat: split: the instances disagree", "socat-1@", "refused the source's certificate (TLS alert: bad certificate)", "socat-2@", "1 agree, 2 do not")
	}
}
