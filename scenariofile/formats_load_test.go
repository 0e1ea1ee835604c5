package scenariofile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What the loader knows about services, from every source Consul has:
// register (any form), an agent's config dir, and across agent restarts.
func TestServicesKnownFromEveryForm(t *testing.T) {
	corpus, _ := filepath.Abs("../testdata/consul-formats")
	consulD, _ := filepath.Abs("../consul.d")
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bad.hcl", "service {\n  name = \"x\"\n  chekcs = []\n}\n")
	write("def.txt", `{"service": {"name": "x"}}`)
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.json")); err != nil {
		t.Fatal(err)
	}
	instances := "  - register: " + corpus + "/defs/socat-instances.hcl\n  - register: " + corpus + "/defs/web.json\n"
	cases := []struct {
		name, steps string
		want        []string // error prefixes after "s.yaml:"; none: valid
	}{
		{"sidecar by ID", instances + "  - sidecar: socat-1\n  - sidecar: socat-2\n  - sidecar: web\n", nil},
		{"sidecar by a name with two instances", instances + "  - sidecar: socat\n",
			[]string{"5:14: sidecar: service \"socat\" has 2 instances (IDs socat-1, socat-2); name one by its ID"}},
		{"upstream by instance ID or single-instance name", instances + "  - send: {to: web-1/socat, data: x}\n  - send: {to: web/socat, data: x}\n", nil},
		{"one instance's sidecar twice, by name and by ID", "  - register: " + corpus + "/tutorial/counting.hcl\n  - sidecar: counting\n  - sidecar: counting-1\n",
			[]string{"5:14: the sidecar of counting-1 is already started at line 4 (as sidecar/counting); stop it first"}},
		{"a sidecar stopped, then started by ID", "  - register: " + corpus + "/tutorial/counting.hcl\n  - sidecar: counting\n  - stop: sidecar/counting\n  - sidecar: counting-1\n", nil},
		{"config-dir services are known", "  - stop: agent\n  - start-agent: {config-dir: " + corpus + "/boot.d}\n  - sidecar: web\n  - send: {to: web/socat, data: x}\n", nil},
		{"a dev agent restarted knows nothing", "  - register: " + consulD + "/web.json\n  - stop: agent\n  - start-agent: {}\n  - sidecar: web\n",
			[]string{`6:14: no earlier step registered service "web"`}},
		{"a non-dev agent restarted keeps its services", "  - stop: agent\n  - start-agent: {dev: false}\n  - register: " + consulD + "/web.json\n  - stop: agent\n  - start-agent: {dev: false}\n  - sidecar: web\n", nil},
		{"HCL error at its key", "  - register: " + dir + "/bad.hcl\n",
			[]string{"3:15: register: " + dir + "/bad.hcl:3:3: invalid config key service.chekcs"}},
		{"only .json and .hcl", "  - register: " + dir + "/def.txt\n", []string{"3:15: register: " + dir + "/def.txt: Consul reads definitions from .json and .hcl files only"}},
		{"inline services list", "  - register: {services: [{name: a, id: a-1}, {name: a, id: a-2, port: 2}]}\n  - send: {to: \"a-2/x\", data: y}\n",
			[]string{`4:16: no earlier step registered upstream "a-2/x"`}},
		{"a typo for SERVICE/UPSTREAM", "  - register: " + consulD + "/web.json\n  - send: {to: \"web:socat\", data: x}\n",
			[]string{`4:16: send.to: "web:socat" is not host:port: the port "socat" is not a number from 1 to 65535 (did you mean web/socat`}},
		{"inline error at its YAML key", "  - register: {service: {name: x, checks: [{id: a, ttl: 1s}, {id: b, tll: 1s}]}}\n",
			[]string{"3:70: register: invalid config key service.checks[1].tll"}},
		{"-dev in args", "  - stop: agent\n  - start-agent: {dev: false, args: [-dev]}\n", []string{"4:37: start-agent.args: -dev is what start-agent runs by default"}},
		{"a device is not a definition", "  - register: " + dir + "/zero.json\n", []string{"3:15: register: " + dir + "/zero.json is not a regular file"}},
		{"a proxy registered as its own service is the sidecar of its destination",
			"  - register: {services: [{name: api, id: api-1, port: 9001}, {name: api-proxy, kind: connect-proxy, port: 21010, proxy: {destination_service_name: api, destination_service_id: api-1, local_service_port: 9001, upstreams: [{destination_name: socat, local_bind_port: 9292}]}}]}\n  - sidecar: api-1\n  - send: {to: api/socat, data: x}\n", nil},
		{"merge keys in items and values", "  - {<<: {timeout: 5s}, register: " + consulD + "/web.json}\n  - run: {<<: {command: 'true'}, name: x}\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parseIn(t, dir, "steps:\n  - start-agent: {}\n"+c.steps)
			if len(errs) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(c.want), strings.Join(errs, "\n"))
			}
			for i, w := range c.want {
				if !strings.HasPrefix(errs[i], w) {
					t.Errorf("error %d:\n got: %s\nwant: %s", i, errs[i], w)
				}
			}
		})
	}
}

// Warnings about sidecar checks that cannot work as meant.
func TestSidecarCheckWarnings(t *testing.T) {
	dir := t.TempDir()
	for src, want := range map[string]string{
		"  - register: {service: {name: counting, id: counting-1, port: 1, connect: {sidecar_service: {checks: [{alias_service: counting}]}}}}\n": `an alias check on "counting", the service's name; an alias check follows a service ID`,
		"  - register: {service: {name: web, port: 1, connect: {sidecar_service: {}}}}\n":                                                         "the sidecar of web keeps Consul's default checks",
	} {
		sc, errs := parseIn(t, dir, "steps:\n  - start-agent: {}\n"+src)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if len(sc.Warnings) != 1 || !strings.Contains(sc.Warnings[0].Error(), want) {
			t.Errorf("warnings %v, want one with %q", sc.Warnings, want)
		}
	}
}

// Every scenario of the corpus is valid, with the anchors and merge keys
// it uses, and each names what it registers.
func TestCorpusLoads(t *testing.T) {
	files, _ := filepath.Glob("../testdata/consul-formats/*.yaml")
	if len(files) < 7 {
		t.Fatalf("corpus has %d scenarios", len(files))
	}
	for _, f := range files {
		if _, err := load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// mergeBomb is a file whose one step merges anchor a15, which merges a14
// twenty times, and so on down to a0 = {first}: 20^15 merges if expanded.
func mergeBomb(first string) string {
	var b strings.Builder
	b.WriteString("x-0: &a0 {" + first + "}\n")
	for i := 1; i <= 15; i++ {
		fmt.Fprintf(&b, "x-%d: &a%d {<<: [", i, i)
		for j := 0; j < 20; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("steps:\n  - {<<: *a15, start-agent: {}}\n")
	return b.String()
}

// Merge keys that merge one anchor many times, level after level, load
// at once instead of expanding exponentially.
func TestMergeKeyBombLoadsQuickly(t *testing.T) {
	done := make(chan error, 1)
	go func() { _, err := parse("bomb.yaml", []byte(mergeBomb("timeout: 5s"))); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("merge keys expanded exponentially")
	}
}

// An instance ID that is another service's name is warned about, whichever
// is registered first: steps naming it mean the instance.
func TestInstanceIDThatIsAnotherServicesName(t *testing.T) {
	dir := t.TempDir()
	socat := "  - register: {service: {name: socat, id: api, port: 1, connect: {sidecar_service: {checks: [{alias_service: api}]}}}}\n"
	api := "  - register: {service: {name: api, id: api-1, port: 2, connect: {sidecar_service: {checks: [{alias_service: api-1}]}}}}\n"
	for _, order := range []string{socat + api, api + socat} {
		sc, errs := parseIn(t, dir, "steps:\n  - start-agent: {}\n"+order)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if len(sc.Warnings) != 1 || !strings.Contains(sc.Warnings[0].Error(), `mean`) || !strings.Contains(sc.Warnings[0].Error(), "give") {
			t.Errorf("warnings %v, want one about api being both", sc.Warnings)
		}
	}
}
