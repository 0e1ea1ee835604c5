package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The consul-formats corpus: Consul's own tutorial definitions (HCL and
// JSON), two instances of one service by ID, checks with ids and args,
// services lists, a config-dir boot, merge keys, dev and non-dev agent
// restarts and commands calling the consul CLI, all against the real mesh.
func TestConsulFormatsCorpus(t *testing.T) {
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
	src := "steps:\n  - start-agent: {}\n  - register: api-spelling.json\n  - register: no-interval.hcl\n"
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := scenario(t, "run", filepath.Join(dir, "s.yaml"))
	r.mustExit(t, 2)
	for _, want := range []string{
		"s.yaml:3:15: register: " + dir + "/api-spelling.json:2:13: invalid config key service.check.CheckID",
		"s.yaml:4:15: register: " + dir + "/no-interval.hcl:1:1: Consul refuses it: service \"x\": check \"\": Interval must be > 0",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
