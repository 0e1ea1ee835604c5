package scenariofile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// prelude starts an agent and registers both demo services, so that cases
// can refer to them; its steps occupy lines 2-5.
const prelude = `steps:
  - start-agent: {}
  - register: socat.json
  - register: web.json
  - run: {name: socat, command: "socat -", ready: "127.0.0.1:8181"}
`

// parse and load read against the built-in step types.
func parse(path string, data []byte) (*Scenario, error) { return Parse(path, data, steps.Default()) }
func load(path string) (*Scenario, error)               { return Load(path, steps.Default()) }

func writeFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{"socat.json": "../consul.d/socat.json", "web.json": "../consul.d/web.json"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("typo.json", "{\"service\": {\"name\": \"x\",\n  \"prot\": 1}}")
	write("broken.json", "{\"service\": {\"name\": \"x\",\n  }")
	write("nosidecar.json", `{"service": {"name": "plain", "port": 1}}`)
	return dir
}

func parseIn(t *testing.T, dir, src string) (*Scenario, []string) {
	t.Helper()
	path := filepath.Join(dir, "s.yaml")
	sc, err := parse(path, []byte(src))
	if err == nil {
		return sc, nil
	}
	var merr *multierror.Error
	if !errors.As(err, &merr) {
		t.Fatalf("error is %T, want *multierror.Error: %v", err, err)
	}
	var msgs []string
	for _, e := range merr.Errors {
		var se *spec.Error
		if !errors.As(e, &se) {
			t.Fatalf("error is %T, want *spec.Error: %v", e, e)
		}
		if se.Pos.File != path || se.Pos.Line < 1 || se.Pos.Col < 1 {
			t.Errorf("error without a proper position: %v", se)
		}
		msgs = append(msgs, strings.TrimPrefix(se.Error(), path+":"))
	}
	return nil, msgs
}

func TestValidScenariosDecode(t *testing.T) {
	for _, f := range []string{"../scenarios/basic.yaml", "../scenarios/intentions.yaml"} {
		sc, err := load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(sc.Items) < 7 {
			t.Errorf("%s: %d steps", f, len(sc.Items))
		}
	}
}

func TestEveryStepTypeDecodes(t *testing.T) {
	dir := writeFixtures(t)
	src := prelude + `  - start-agent: {config-dir: conf, node: n1, args: [-log-level, debug]}
  - register: {file: socat.json}
  - register: {service: {name: inline, port: 1, connect: {sidecar_service: {}}}}
  - run: {name: lister, command: [sleep, "1"]}
  - sidecar: socat
  - sidecar: {service: web, proxy: builtin}
  - send: {to: web/socat, data: "a", conn: c1}
  - send: {to: "127.0.0.1:9191"}
  - send: {conn: c1, data: "b"}
  - expect: {conn: c1, reply: "a"}
  - expect: {reply: "b", within: 2s}
  - expect: {to: web/socat, send: "x", closed: true}
  - expect: {to: "127.0.0.1:9191", reply: "x"}
  - expect: {intention: {source: web, destination: socat}, allowed: true}
  - expect: {cert: socat}
  - expect: {loopback-only: socat}
  - set-intention: {source: web, destination: socat, action: deny}
  - delete-intention: {source: web, destination: socat}
  - exec: {command: "true", exit: 0, stdout: "^$"}
  - check: {id: ttl-socat, status: critical}
  - config-entry: {entry: {Kind: service-defaults, Name: socat, Protocol: tcp}}
  - config-entry: {delete: {kind: service-defaults, name: socat}}
  - prepared-query: {name: socat-pq, service: socat, failover: [dc2]}
  - rotate-ca: {}
  - acl-token: {name: web-token, service-identities: [web]}
  - register: {file: web.json, token: web-token}
  - expect: {to: web/socat, send: "x", denied: true, within: 2s}
  - expect: {to: web/socat, send: "x", reply-prefix: "x", times: 3, others-allowed: true}
  - expect: {to: web/socat, send: "x", reply-matches: "^x$", quiet: 10ms}
  - expect: {cert: socat, within: 40s}
  - expect: {from: native, to: socat, send: "x", denied: true}
  - name: labelled
    timeout: 3s
    stop: sidecar/web
  - stop: lister
`
	// start-agent twice defines "agent" twice: drop the extra one.
	src = strings.Replace(src, "  - start-agent: {config-dir", "  - exec: {command: [true]}\n  - start-agent: {config-dir", 1)
	src = strings.Replace(src, "  - exec: {command: [true]}\n  - start-agent: {config-dir: conf, node: n1, args: [-log-level, debug]}\n", "", 1)
	sc, errs := parseIn(t, dir, src)
	if errs != nil {
		t.Fatalf("unexpected errors:\n%s", strings.Join(errs, "\n"))
	}
	seen := map[string]bool{}
	for _, it := range sc.Items {
		seen[it.Type] = true
		if it.Label == "" {
			t.Errorf("step %d (%s) has no label", it.Index+1, it.Type)
		}
	}
	for _, name := range steps.Default().Names() {
		// Network steps need nodes: TestTopologyFormat's valid case has them.
		onNodes := name == "disconnect" || name == "reconnect" || name == "loss" || name == "bandwidth"
		if !seen[name] && !onNodes {
			t.Errorf("step type %s not covered", name)
		}
	}
	last := sc.Items[len(sc.Items)-2]
	if last.Label != "labelled" || last.Timeout.String() != "3s" {
		t.Errorf("common keys not applied: %+v", last)
	}
}

func TestStartAgentWithOptions(t *testing.T) {
	dir := writeFixtures(t)
	_, errs := parseIn(t, dir, "steps:\n  - start-agent: {config-dir: conf, node: n1, args: [-log-level, debug]}\n  - start-agent:\n")
	if len(errs) != 1 || !strings.Contains(errs[0], `already started at line 2`) {
		t.Fatalf("errors: %q", errs)
	}
}

func TestInvalidScenarios(t *testing.T) {
	dir := writeFixtures(t)
	cases := []struct {
		name string
		src  string
		want []string // "line:col: substring", all of them, in order
	}{
		{"yaml syntax", "steps:\n  - start-agent: {}\n   bad: [\n", []string{"3:4: invalid YAML"}},
		{"yaml unterminated", "steps: [\n  - a: b\n", []string{"1:1: invalid YAML"}},
		{"yaml unterminated quote", "steps:\n  - a: \"open\n", []string{"2:3: invalid YAML"}},
		{"yaml tab", "steps:\n\t- start-agent: {}\n", []string{"2:1: invalid YAML: found character that cannot start any token"}},
		{"two documents", "steps: [{start-agent: {}}]\n---\nsteps: []\n", []string{"2:1: a second YAML document"}},
		{"empty file", "", []string{"1:1: the file is empty"}},
		{"not a mapping", "- start-agent: {}\n", []string{"1:1: a scenario must be a mapping"}},
		{"unknown top key", "nam: x\nsteps: [{start-agent: {}}]\n", []string{`1:1: a scenario: unknown key "nam" (did you mean "name"?)`}},
		{"no steps", "name: x\n", []string{`1:1: a scenario: missing required key "steps"`}},
		{"empty steps", "steps: []\n", []string{"1:8: steps is empty"}},
		{"steps not a list", "steps: {start-agent: {}}\n", []string{"1:8: steps must be a list"}},
		{"scenario timeout bad", "timeout: soon\nsteps: [{start-agent: {}}]\n", []string{`1:10: a scenario.timeout: "soon" is not a duration`}},
		{"scenario timeout negative", "timeout: -5s\nsteps: [{start-agent: {}}]\n", []string{"1:10: a scenario.timeout must be positive"}},
		{"unknown step type", "steps:\n  - start-agnet: {}\n", []string{`2:5: unknown step type "start-agnet" (did you mean "start-agent"?)`}},
		{"zero step keys", "steps:\n  - name: lonely\n", []string{"2:5: step 1 has no step type"}},
		{"two step keys", "steps:\n  - start-agent: {}\n    stop: agent\n", []string{`3:5: step 1 has two step types, "start-agent" and "stop"`}},
		{"item not a mapping", "steps:\n  - start-agent\n", []string{"2:5: step 1 must be a mapping"}},
		{"step timeout bad", "steps:\n  - start-agent: {}\n    timeout: 5\n", []string{"3:14: timeout must be a string"}},
		{"step timeout zero", "steps:\n  - start-agent: {}\n    timeout: 0s\n", []string{"3:14: timeout must be positive"}},
		{"step name not string", "steps:\n  - start-agent: {}\n    name: [a]\n", []string{"3:11: name must be a string"}},

		{"start-agent unknown key", "steps:\n  - start-agent: {nod: x}\n", []string{`2:19: start-agent: unknown key "nod" (did you mean "node"?)`}},
		{"start-agent config-dir missing", "steps:\n  - start-agent: {config-dir: nowhere}\n", []string{"2:31: start-agent.config-dir: " + dir + "/nowhere does not exist"}},
		{"start-agent config-dir is file", "steps:\n  - start-agent: {config-dir: web.json}\n", []string{"2:31: start-agent.config-dir: " + dir + "/web.json is not a directory"}},
		{"start-agent args not list", "steps:\n  - start-agent: {args: -dev}\n", []string{"2:25: start-agent.args must be a list"}},
		{"start-agent data-dir", "steps:\n  - start-agent: {args: [-data-dir=/tmp]}\n", []string{"2:25: start-agent.args: -data-dir is set by the runner"}},
		{"start-agent not mapping", "steps:\n  - start-agent: [x]\n", []string{"2:18: start-agent must be a mapping"}},

		{"register before agent", "steps:\n  - register: web.json\n  - start-agent: {}\n", []string{"2:15: register needs a running Consul agent"}},
		{"register missing file", "steps:\n  - start-agent: {}\n  - register: nope.json\n", []string{"3:15: register: " + dir + "/nope.json does not exist"}},
		{"register unknown json key", "steps:\n  - start-agent: {}\n  - register: typo.json\n", []string{"3:15: register: " + dir + `/typo.json:2:3: invalid config key service.prot`}},
		{"register bad json", "steps:\n  - start-agent: {}\n  - register: broken.json\n", []string{"3:15: register: " + dir + "/broken.json:2:3: invalid JSON: invalid character '}'"}},
		{"register file and service", "steps:\n  - start-agent: {}\n  - register: {file: web.json, service: {name: x}}\n", []string{"3:32: register takes one source (file, service or services), not both file and service"}},
		{"register inline no name", "steps:\n  - start-agent: {}\n  - register: {service: {port: 1}}\n", []string{`3:25: register: service has no name`}},
		{"register inline wrong type", "steps:\n  - start-agent: {}\n  - register: {service: {name: x, port: eighty}}\n", []string{"3:35: register: service.port: expected type 'int'"}},

		{"run missing command", "steps:\n  - run: {name: x}\n", []string{`2:10: run: missing required key "command"`}},
		{"run missing name", "steps:\n  - run: {command: x}\n", []string{`2:10: run: missing required key "name"`}},
		{"run command wrong type", "steps:\n  - run: {name: x, command: 5}\n", []string{"2:29: run.command must be a string"}},
		{"run command empty list", "steps:\n  - run: {name: x, command: []}\n", []string{"2:29: run.command is an empty list"}},
		{"run bad ready", "steps:\n  - run: {name: x, command: y, ready: 8181}\n", []string{"2:39: run.ready must be a string"}},
		{"run ready not host:port", "steps:\n  - run: {name: x, command: y, ready: localhost}\n", []string{`2:39: run.ready: "localhost" is not host:port`}},
		{"run reserved name", "steps:\n  - run: {name: agent, command: y}\n", []string{`2:17: run.name "agent" is reserved`}},
		{"run duplicate name", "steps:\n  - run: {name: x, command: y}\n  - run: {name: x, command: y}\n", []string{`3:17: process "x" is already started at line 2`}},

		{"sidecar unregistered", prelude + "  - sidecar: api\n", []string{`6:14: no earlier step registered service "api"`}},
		{"sidecar without sidecar_service", prelude + "  - register: nosidecar.json\n  - sidecar: plain\n", []string{`7:14: sidecar: service "plain" was registered without connect.sidecar_service`}},
		{"sidecar bad proxy", prelude + "  - sidecar: {service: web, proxy: haproxy}\n", []string{`6:36: sidecar.proxy: "haproxy" is not one of builtin, envoy`}},
		{"sidecar twice", prelude + "  - sidecar: web\n  - sidecar: web\n", []string{`7:14: process "sidecar/web" is already started at line 6`}},
		{"sidecar before agent", "steps:\n  - sidecar: web\n", []string{"2:14: sidecar needs a running Consul agent", `2:14: no earlier step registered service "web"`}},

		{"send nowhere", prelude + "  - send: {data: x}\n", []string{"6:11: send needs to"}},
		{"send unknown conn", prelude + "  - send: {conn: nope, data: x}\n", []string{`6:18: no earlier step opened conn "nope"`}},
		{"send unknown upstream", prelude + "  - send: {to: web/api, data: x}\n", []string{`6:16: no earlier step registered upstream "web/api" (known: web/socat)`}},
		{"send unknown service", prelude + "  - send: {to: api/socat, data: x}\n", []string{`6:16: no earlier step registered service "api"`}},
		{"send bad address", prelude + "  - send: {to: nowhere, data: x}\n", []string{`6:16: send.to: "nowhere" is not host:port`}},
		{"send data number", prelude + "  - send: {to: web/socat, data: 42}\n", []string{"6:33: send.data must be a string, not a number (42)"}},
		{"send conn reopened", prelude + "  - send: {to: web/socat, conn: a}\n  - send: {to: web/socat, conn: a}\n", []string{`7:11: conn "a" is already opened at line 6`}},

		{"expect no send", prelude + "  - expect: {reply: x}\n", []string{"6:13: expect has no connection to look at"}},
		{"expect unknown conn", prelude + "  - expect: {conn: c, reply: x}\n", []string{`6:20: no earlier step opened conn "c"`}},
		{"expect neither", prelude + "  - expect: {to: web/socat, send: x}\n", []string{"6:13: expect needs one outcome: reply, reply-prefix, reply-matches, closed or denied"}},
		{"expect both", prelude + "  - expect: {to: web/socat, reply: x, closed: true}\n", []string{"6:39: expect takes one outcome (reply, reply-prefix, reply-matches, closed or denied), not both reply and closed"}},
		{"expect closed false", prelude + "  - expect: {to: web/socat, closed: false}\n", []string{"6:37: expect.closed: false asserts nothing"}},
		{"expect closed not bool", prelude + "  - expect: {to: web/socat, closed: yes please}\n", []string{"6:37: expect.closed must be true or false"}},
		{"expect bad within", prelude + "  - expect: {to: web/socat, reply: x, within: 5}\n", []string{"6:47: expect.within must be a string"}},
		{"expect negative within", prelude + "  - expect: {to: web/socat, reply: x, within: -1s}\n", []string{"6:47: expect.within must be positive"}},
		{"expect intention missing allowed", prelude + "  - expect: {intention: {source: web, destination: socat}}\n", []string{`6:13: expect: missing required key "allowed"`}},
		{"expect intention missing destination", prelude + "  - expect: {intention: {source: web}, allowed: true}\n", []string{`6:25: expect.intention: missing required key "destination"`}},
		{"expect intention with reply", prelude + "  - expect: {intention: {source: web, destination: socat}, allowed: true, reply: x}\n", []string{`6:75: expect on an intention does not take "reply"`}},
		{"expect misspelled key", prelude + "  - expect: {to: web/socat, reply: x, withn: 2s}\n", []string{`6:39: expect: unknown key "withn" (did you mean "within"?)`}},
		{"expect empty reply", prelude + "  - expect: {to: web/socat, reply: \"\"}\n", []string{"6:36: expect.reply is empty"}},
		{"expect duplicate key", prelude + "  - expect: {to: web/socat, reply: x, reply: y}\n", []string{`6:39: expect: key "reply" appears twice`}},

		{"cert before its sidecar", prelude + "  - expect: {cert: socat}\n", []string{`6:20: no earlier step started process "sidecar/socat"`}},
		{"cert with reply", prelude + "  - sidecar: socat\n  - expect: {cert: socat, reply: x}\n", []string{`7:27: expect cert does not take "reply"`}},
		{"loopback-only unknown", prelude + "  - expect: {loopback-only: nginx}\n", []string{`6:29: no earlier step started process "nginx"`}},
		{"loopback-only not string", prelude + "  - expect: {loopback-only: [socat]}\n", []string{"6:29: expect.loopback-only must be a string, not a list"}},
		{"intention bad action", prelude + "  - set-intention: {source: web, destination: socat, action: permit}\n", []string{`6:62: set-intention.action: "permit" is not one of allow, deny`}},
		{"intention missing action", prelude + "  - set-intention: {source: web, destination: socat}\n", []string{`6:20: set-intention: missing required key "action"`}},
		{"delete-intention missing source", prelude + "  - delete-intention: {destination: socat}\n", []string{`6:23: delete-intention: missing required key "source"`}},
		{"intention before agent", "steps:\n  - set-intention: {source: a, destination: b, action: allow}\n", []string{"2:20: set-intention needs a running Consul agent"}},

		{"stop never started", prelude + "  - stop: sidecar/web\n", []string{`6:11: no earlier step started process "sidecar/web"`}},
		{"stop twice", prelude + "  - stop: socat\n  - stop: socat\n", []string{`7:11: no earlier step started process "socat"`}},
		{"stop not string", prelude + "  - stop: [socat]\n", []string{"6:11: stop must be a string, not a list"}},

		{"exec missing command", "steps:\n  - exec: {exit: 1}\n", []string{`2:11: exec: missing required key "command"`}},
		{"exec bad exit", "steps:\n  - exec: {command: x, exit: 300}\n", []string{"2:30: exec.exit must be between 0 and 255"}},
		{"exec exit not int", "steps:\n  - exec: {command: x, exit: one}\n", []string{"2:30: exec.exit must be a whole number"}},
		{"exec bad regexp", "steps:\n  - exec: {command: x, stdout: \"(\"}\n", []string{"2:32: exec.stdout: error parsing regexp"}},

		{"all errors at once", "steps:\n  - start-agent: {nod: x}\n  - stop: web\n  - set-intention: {source: a, destination: b, action: permit}\n",
			[]string{`2:19: start-agent: unknown key "nod"`, `3:11: no earlier step started process "web"`, `4:56: set-intention.action: "permit" is not one of allow, deny`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parseIn(t, dir, c.src)
			if len(errs) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(c.want), strings.Join(errs, "\n"))
			}
			for i, w := range c.want {
				if !strings.HasPrefix(errs[i], w) && !strings.Contains(errs[i], w) {
					t.Errorf("error %d:\n got: %s\nwant: %s", i, errs[i], w)
				}
				if pos := strings.SplitN(w, ": ", 2)[0]; !strings.HasPrefix(errs[i], pos+": ") {
					t.Errorf("error %d at the wrong place:\n got: %s\nwant: %s", i, errs[i], w)
				}
			}
		})
	}
}

func TestLoadRefusesHugeAndBinaryFiles(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+10), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
	if _, err := parse("bin.yaml", []byte("steps:\x00")); err == nil || !strings.Contains(err.Error(), "binary") {
		t.Errorf("binary file: %v", err)
	}
	if _, err := load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml:1:1: cannot read") {
		t.Errorf("missing file: %v", err)
	}
}

// Envoy is the other proxy a sidecar step can run; when it is not
// installed, validation says so before anything starts.
func TestEnvoyMissingIsAValidationError(t *testing.T) {
	dir := writeFixtures(t)
	t.Setenv("PATH", t.TempDir())
	_, errs := parseIn(t, dir, prelude+"  - sidecar: {service: web, proxy: envoy}\n")
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "6:36: sidecar.proxy: envoy is not installed (no envoy in PATH); install Envoy or use proxy: builtin") {
		t.Errorf("errors: %q", errs)
	}
}
