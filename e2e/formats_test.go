package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/internal/testenv"
)

// The consul-formats corpus: Consul's own tutorial definitions (HCL and
// JSON), two instances of one service by ID, checks with ids and args,
// services lists, a config-dir boot, merge keys, dev and non-dev agent
// restarts and commands calling the consul CLI, all against the real mesh.
func TestConsulFormatsCorpus(t *testing.T) {
	needMesh(t, testenv.Program("nc"))
	files, _ := filepath.Glob("testdata/consul-formats/*.yaml")
	if len(files) < 7 {
		t.Fatalf("the corpus has %d scenarios", len(files))
	}
	r := scenario(t, "run", "testdata/consul-formats")
	r.mustExit(t, 0)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if !regexp.MustCompile(`(?m)^--- PASS ` + regexp.QuoteMeta(name) + `:`).MatchString(r.stdout) {
			t.Errorf("%s did not pass:\n%s", name, r.stdout)
		}
	}
	logHeader := func(scenario, process string) string {
		data, err := os.ReadFile(filepath.Join(r.logs, scenario, process+".log"))
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		return first
	}
	// The sidecar of a service whose id differs from its name is started
	// for the ID (Consul's -sidecar-for takes an ID).
	if h := logHeader("tutorial-hcl", "sidecar-counting"); !strings.Contains(h, "-sidecar-for counting-1 ") {
		t.Errorf("counting's sidecar was not started for its ID: %s", h)
	}
	if h := logHeader("instances", "sidecar-socat-2"); !strings.Contains(h, "-sidecar-for socat-2 ") {
		t.Errorf("socat-2's sidecar: %s", h)
	}
	// The report names the instance behind a name.
	if !strings.Contains(r.stdout, "sidecar          counting (service counting, ID counting-1)") {
		t.Errorf("the report does not show the instance's ID:\n%s", r.stdout)
	}
	// A non-dev agent keeps its data in the run's log folder, and both of
	// its starts used the same data dir.
	if st, err := os.Stat(filepath.Join(r.logs, "restart-server", "agent-data", "raft")); err != nil || !st.IsDir() {
		t.Errorf("the non-dev agent's data dir is not in the log folder: %v", err)
	}
	agentLog, _ := os.ReadFile(filepath.Join(r.logs, "restart-server", "agent.log"))
	if n := strings.Count(string(agentLog), "# scenario: agent started"); n != 2 {
		t.Errorf("the non-dev agent started %d times, want 2", n)
	}
	// Validation warns about sidecars that keep Consul's default checks.
	if !strings.Contains(r.stderr, "the sidecar of counting-1 keeps Consul's default checks") {
		t.Errorf("no warning about default sidecar checks:\n%s", r.stderr)
	}
}

// A definition Consul refuses is refused before anything starts, at the
// offending key, with Consul's own words when its parser and ours agree.
func TestConsulJudgesDefinitions(t *testing.T) {
	testenv.Need(t, consul)
	dir := t.TempDir()
	files := map[string]string{
		// Consul's config files refuse CheckID (the API's spelling).
		"api-spelling.json": "{\"service\": {\"name\": \"x\",\n  \"check\": {\"CheckID\": \"c\", \"ttl\": \"1m\"}}}\n",
		// Parsed fine, refused by Consul's own validation.
		"no-interval.hcl": "service {\n  name = \"x\"\n  check {\n    http = \"http://127.0.0.1:1/\"\n  }\n}\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := "steps:\n  - start-agent: {}\n  - register: api-spelling.json\n  - register: no-interval.hcl\n" +
		"  - register: {service: {name: y, checks: [{name: ok, ttl: 1m}, {name: bad, http: \"http://127.0.0.1:1/\"}]}}\n"
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := scenario(t, "run", filepath.Join(dir, "s.yaml"))
	r.mustExit(t, 2)
	for _, want := range []string{
		"s.yaml:3:15: register: " + dir + "/api-spelling.json:2:13: invalid config key service.check.CheckID",
		"s.yaml:4:15: register: " + dir + "/no-interval.hcl:3:3: Consul refuses it: service \"x\": check \"\": Interval must be > 0",
		// Inline: at the YAML of the check Consul names.
		"s.yaml:5:65: register: Consul refuses it: service \"y\": check \"bad\": Interval must be > 0",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// A folder with one invalid file: every command reports it and goes on
// with the valid one where that is safe; run starts nothing unless asked.
func TestFolderWithAnInvalidFile(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	good := copyScenario(t, dir, "basic")
	bad := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(bad, []byte("steps:\n  - start-agnet: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := scenario(t, "list", dir)
	l.mustExit(t, 2)
	if !strings.Contains(l.stdout, good) || !strings.Contains(l.stderr, bad+":2:5: unknown step type") {
		t.Errorf("list:\n%s\n%s", l.stdout, l.stderr)
	}
	v := scenario(t, "validate", dir)
	v.mustExit(t, 2)
	if !strings.Contains(v.stdout, "ok  "+good) || !strings.Contains(v.stderr, "1 of 2 files are invalid") {
		t.Errorf("validate:\n%s\n%s", v.stdout, v.stderr)
	}
	junit := filepath.Join(t.TempDir(), "junit.xml")
	r := scenario(t, "run", "--junit", junit, dir)
	r.mustExit(t, 2)
	if r.stdout != "" || !strings.Contains(r.stderr, "nothing was started (--skip-invalid runs the valid ones)") {
		t.Errorf("run started something or said nothing:\n%s\n%s", r.stdout, r.stderr)
	}
	if data, err := os.ReadFile(junit); err != nil || !strings.Contains(string(data), `<testsuite name="broken"`) || !strings.Contains(string(data), "unknown step type") {
		t.Errorf("the JUnit report does not record the invalid file: %v\n%s", err, data)
	}
	s := scenario(t, "run", "--skip-invalid", "--junit", junit, dir)
	s.mustExit(t, 2)
	if !strings.Contains(s.stdout, "--- PASS basic") || !strings.Contains(s.stderr, "1 invalid files were skipped") {
		t.Errorf("--skip-invalid:\n%s\n%s", s.stdout, s.stderr)
	}
	if data, _ := os.ReadFile(junit); !strings.Contains(string(data), `<testsuite name="broken"`) || !strings.Contains(string(data), `<testsuite name="basic"`) {
		t.Errorf("the JUnit report lacks a suite:\n%s", data)
	}
}

// A sidecar that never gets healthy names the critical check and what it
// printed, not just "critical".
func TestSidecarWaitNamesTheCriticalCheck(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	src := `steps:
  - start-agent: {}
  - register:
      service:
        name: sick
        port: 8282
        checks: [{id: sick-tcp, name: sick listens, tcp: "127.0.0.1:8282", interval: 1s}]
        connect: {sidecar_service: {checks: [{name: follows sick, alias_service: sick}]}}
  - sidecar: sick
    timeout: 4s
`
	path := filepath.Join(dir, "sick.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := scenario(t, "run", path)
	r.mustExit(t, 1)
	want := `check "sick listens" (ID sick-tcp, of sick) is critical: "dial tcp 127.0.0.1:8282: connect: connection refused"`
	if !strings.Contains(r.stdout, want) {
		t.Errorf("the failure does not name the critical check:\n%s", r.stdout)
	}
}

// up --keep-on-failure keeps the mesh as a failed step left it until
// Ctrl-C, then cleans up and exits 1.
func TestUpKeepsTheMeshAfterAFailureWhenAsked(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "fails.yaml")
	if err := os.WriteFile(path, []byte("steps:\n  - start-agent: {}\n  - exec: {command: \"false\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(scenarioBin, "up", "--keep-on-failure", "--logs", t.TempDir(), "--consul", consulBin, path)
	stdout, lines := startUntil(t, cmd, "a step failed; everything is kept up as it was (--keep-on-failure)", "did not keep the mesh up")
	resp, err := http.Get("http://127.0.0.1:8500/v1/status/leader")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the agent is not up after the failure: %v %v", resp, err)
	}
	resp.Body.Close()
	cmd.Process.Signal(syscall.SIGINT)
	go func() { // drain stderr so that up never blocks writing it
		for lines.Scan() {
		}
	}()
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Errorf("exit: %v, want status 1", err)
	}
	if !strings.Contains(stdout.String(), "--- FAIL") {
		t.Errorf("output:\n%s", stdout.String())
	}
	assertNothingLeft(t)
}

// The loader's own reading of service definitions (the mirror of Consul's
// config decoder, used when no consul binary judges) agrees with `consul
// validate` on what is a valid definition, form by form. Only Consul's
// semantic checks (a check's interval, a proxy's destination) are
// Consul's alone, and the loader asks Consul for those.
func TestMirrorAgreesWithConsulValidate(t *testing.T) {
	testenv.Need(t, consul)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.hcl")
	if err := os.WriteFile(base, []byte("data_dir = \""+filepath.Join(dir, "data")+"\"\nbind_addr = \"127.0.0.1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		format, src string
		consulOnly  bool // valid to the decoder, refused by Consul's validation
	}{
		{"json", `{"service": {"name": "x", "id": "x-1", "port": 1, "check": {"id": "c", "ttl": "1m"}}}`, false},
		{"json", `{"service": {"Name": "x", "ID": "x-1", "Port": 1, "Tags": ["a"], "Meta": {"k": "v"}}}`, false},
		{"json", `{"service": {"name": "x", "check": {"CheckID": "c", "ttl": "1m"}}}`, false},
		{"json", `{"service": {"name": "x", "check": {"ScriptArgs": ["/bin/true"], "interval": "1s"}}}`, false},
		{"json", `{"service": {"name": "x", "check": {"args": ["/bin/true"], "interval": "1s", "DeregisterCriticalServiceAfter": "1m"}}}`, false},
		{"json", `{"service": {"name": "x", "check": {"ttl": "1m", "ServiceID": "x", "TLSSkipVerify": true}}}`, false},
		{"json", `{"service": {"name": "x", "connect": {"SidecarService": {}}}}`, false},
		{"json", `{"service": {"name": "x", "connect": {"sidecar_service": {"proxy": {"upstreams": [{"DestinationName": "y", "local_bind_port": 1}]}}}}}`, false},
		{"json", `{"service": {"name": "x", "connect": {"sidecar_service": {"port": 21000, "checks": [{"name": "a", "alias_service": "x"}], "proxy": {"upstreams": [{"destination_name": "y", "destination_type": "prepared_query", "local_bind_port": 1}]}}}}}`, false},
		{"json", `{"services": [{"name": "a", "port": 1}, {"name": "a", "id": "a-2", "port": 2}]}`, false},
		{"json", `{"service": {"name": "x", "port": "80"}}`, false},
		{"json", `{"service": {"name": "x", "tags": "a"}}`, false},
		{"json", `{"service": {"name": "x", "meta": {"k": 1}}}`, false},
		{"json", `{"service": {"name": "x", "enable_tag_override": "true"}}`, false},
		{"json", `{"service": {"name": "x", "weights": {"passing": 3, "warning": 1}, "tagged_addresses": {"lan": {"address": "10.0.0.1", "port": 5}}}}`, false},
		{"json", `{"service": {"name": "x", "token": "t", "socket_path": "/tmp/x.sock"}}`, false},
		{"json", `{"service": {"name": "x", "check": {"http": "http://127.0.0.1/"}}}`, true},
		{"json", `{"service": {"name": "x", "kind": "connect-proxy"}}`, true},
		{"hcl", "service {\n  name = \"x\"\n  check {\n    id = \"c\"\n    ttl = \"1m\"\n  }\n}\n", false},
		{"hcl", "services {\n  name = \"a\"\n}\nservices {\n  name = \"b\"\n  checks = [{ id = \"b\", tcp = \"127.0.0.1:1\", interval = \"1s\" }]\n}\n", false},
		{"hcl", "service {\n  name = \"x\"\n  connect { sidecar_service { proxy { upstreams { destination_name = \"y\"\n local_bind_port = 1 } } } }\n}\n", false},
		{"hcl", "service {\n  name = \"x\"\n  port = \"80\"\n}\n", false},
		{"hcl", "service {\n  name = \"x\"\n  chekcs = []\n}\n", false},
		{"hcl", "# comment\nservice {\n  name = \"x\"\n  meta { a = \"b\" }\n}\n", false},
	}
	for i, c := range cases {
		file := filepath.Join(dir, fmt.Sprintf("def%d.%s", i, c.format))
		if err := os.WriteFile(file, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, mirrorErr := consuldef.ParseServiceFile(file, []byte(c.src), c.format, false)
		out, consulErr := exec.Command(consulBin, "validate", "-quiet", base, file).CombinedOutput()
		consulValid, mirrorValid := consulErr == nil, mirrorErr == nil
		switch {
		case c.consulOnly && (consulValid || !mirrorValid):
			t.Errorf("%s: expected valid to the decoder and refused by Consul; decoder: %v; consul: %s", c.src, mirrorErr, out)
		case !c.consulOnly && consulValid != mirrorValid:
			t.Errorf("%s: decoder and Consul disagree; decoder: %v; consul: %s", c.src, mirrorErr, out)
		}
	}
}
