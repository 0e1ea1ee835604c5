package consuldef

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// Every form of service definition the agent reads from its config files.
func TestServiceDefinitionForms(t *testing.T) {
	type want struct {
		ids       []string
		names     []string
		sidecarOf string // the ID whose sidecar has upstream socat:9191
	}
	cases := []struct {
		name, format, src string
		want              want
	}{
		{"json service, snake_case", "json", `{"service": {"name": "web", "id": "web-1", "port": 8080,
		  "checks": [{"id": "web-tcp", "name": "tcp", "tcp": "127.0.0.1:8080", "interval": "10s"},
		             {"id": "web-script", "args": ["/bin/true"], "interval": "5s"}],
		  "connect": {"sidecar_service": {"proxy": {"upstreams": [{"destination_name": "socat", "local_bind_port": 9191}]}}}}}`,
			want{[]string{"web-1"}, []string{"web"}, "web-1"}},
		{"json single-word CamelCase keys", "json", `{"Service": {"Name": "web", "ID": "web-2", "Port": 8080, "Tags": ["a"],
		  "Connect": {"sidecar_service": {"Proxy": {"Upstreams": [{"destination_name": "socat", "local_bind_port": 9191}]}}}}}`,
			want{[]string{"web-2"}, []string{"web"}, "web-2"}},
		{"json services array", "json", `{"services": [{"name": "socat", "id": "socat-1", "port": 8181},
		  {"name": "socat", "id": "socat-2", "port": 8182}]}`,
			want{[]string{"socat-1", "socat-2"}, []string{"socat", "socat"}, ""}},
		{"json check aliases ScriptArgs, DeregisterCriticalServiceAfter", "json", `{"service": {"name": "x",
		  "check": {"ScriptArgs": ["/bin/true"], "interval": "5s", "DeregisterCriticalServiceAfter": "1m"}}}`,
			want{[]string{"x"}, []string{"x"}, ""}},
		{"hcl service block with comments", "hcl", `# Consul tutorial style
service {
  name = "web"
  id   = "web"
  port = 8080
  // a TTL check
  check {
    id  = "web-ttl"
    ttl = "30s"
  }
  connect {
    sidecar_service {
      proxy {
        upstreams = [
          { destination_name = "socat", local_bind_port = 9191 }
        ]
      }
    }
  }
}
`, want{[]string{"web"}, []string{"web"}, "web"}},
		{"hcl repeated services blocks", "hcl", `services {
  name = "api"
  id = "api-1"
  port = 9001
}
services {
  name = "api"
  id = "api-2"
  port = 9002
  checks = [
    { id = "api-2-http", http = "http://127.0.0.1:9002/health", interval = "10s" },
    { id = "api-2-alias", alias_service = "api-1" }
  ]
}
`, want{[]string{"api-1", "api-2"}, []string{"api", "api"}, ""}},
		{"hcl upstreams as blocks", "hcl", `service {
  name = "web"
  connect { sidecar_service { proxy { upstreams { destination_name = "socat"
    local_bind_port = 9191 } } } }
}`, want{[]string{"web"}, []string{"web"}, "web"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := ParseServiceFile("def."+c.format, []byte(c.src), c.format, false)
			if err != nil {
				t.Fatal(err)
			}
			var ids, names []string
			for _, s := range f.Services {
				ids, names = append(ids, s.ID()), append(names, s.Reg.Name)
				if s.ID() == c.want.sidecarOf {
					ups := s.Upstreams()
					if !s.HasSidecar() || len(ups) != 1 || ups[0].DestinationName != "socat" || ups[0].LocalBindPort != 9191 {
						t.Errorf("sidecar of %s: %+v", s.ID(), s.Reg.Connect)
					}
				}
			}
			if strings.Join(ids, ",") != strings.Join(c.want.ids, ",") || strings.Join(names, ",") != strings.Join(c.want.names, ",") {
				t.Errorf("ids %v names %v, want %v %v", ids, names, c.want.ids, c.want.names)
			}
		})
	}
}

func TestServiceDefinitionChecksReachTheAPIForm(t *testing.T) {
	f, err := ParseServiceFile("d.hcl", []byte(`service {
  name = "web"
  checks = [
    { id = "a", name = "script", args = ["/bin/sh", "-c", "exit 0"], interval = "5s", timeout = "1s" },
    { id = "b", http = "http://127.0.0.1/", method = "POST", header = { X = ["1"] }, interval = "10s" },
    { id = "c", tcp = "127.0.0.1:1", interval = "10s", status = "passing" },
    { id = "d", ttl = "10m", notes = "n", deregister_critical_service_after = "90m" },
    { id = "e", grpc = "127.0.0.1:2", grpc_use_tls = true, interval = "10s" },
    { id = "f", h2ping = "127.0.0.1:3", interval = "10s", tls_skip_verify = true },
    { id = "g", alias_service = "socat" },
    { id = "h", udp = "127.0.0.1:4", interval = "10s", success_before_passing = 2, failures_before_critical = 3 },
  ]
}`), "hcl", false)
	if err != nil {
		t.Fatal(err)
	}
	cs := f.Services[0].Reg.Checks
	if len(cs) != 8 {
		t.Fatalf("%d checks", len(cs))
	}
	if cs[0].CheckID != "a" || strings.Join(cs[0].Args, " ") != "/bin/sh -c exit 0" || cs[0].Timeout != "1s" {
		t.Errorf("script check: %+v", cs[0])
	}
	if cs[1].Method != "POST" || cs[1].Header["X"][0] != "1" || cs[2].TCP == "" || cs[2].Status != "passing" {
		t.Errorf("http/tcp checks: %+v %+v", cs[1], cs[2])
	}
	if cs[3].TTL != "10m" || cs[3].DeregisterCriticalServiceAfter != "90m" || !cs[4].GRPCUseTLS || !cs[5].TLSSkipVerify ||
		cs[6].AliasService != "socat" || cs[7].UDP == "" || cs[7].SuccessBeforePassing != 2 || cs[7].FailuresBeforeCritical != 3 {
		t.Errorf("other checks: %+v", cs[3:])
	}
}

// Errors point at the offending key in the definition file.
func TestServiceDefinitionErrors(t *testing.T) {
	cases := []struct{ format, src, want string }{
		{"json", `{"service": {"name": "x", "prot": 1}}`, `d.json:1:27: invalid config key service.prot`},
		{"json", "{\"service\": {\"name\": \"x\",\n  \"port\": \"80\"}}", `d.json:2:3: service.port: expected type 'int'`},
		{"json", `{"servce": {"name": "x"}}`, `d.json:1:2: "servce" is not part of a service definition`},
		{"json", `{"service": {"port": 1}}`, `d.json:1:2: service has no name`},
		{"json", "{\n  # a comment\n}", `d.json:2:3: invalid JSON`},
		{"json", "{\"service\": {\"name\": \"x\", \"connect\": {\n \"SidecarService\": {}}}}", `invalid config key service.connect.SidecarService`},
		{"hcl", "service {\n  name = \"x\"\n  checks = [\n    { id = \"a\", ttl = \"1s\" },\n    { id = \"b\", tll = \"1s\" }\n  ]\n}", `d.hcl:5:17: invalid config key service.checks[1].tll`},
		{"hcl", "service {\n  name = \"x\"\n  port = \n}", `d.hcl:4:2: invalid HCL`},
		{"hcl", "services { name = \"a\" }\nservices { name = \"a\" }", `d.hcl:2:1: service ID "a" is defined twice`},
	}
	for _, c := range cases {
		_, err := ParseServiceFile("d."+c.format, []byte(c.src), c.format, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}

func TestServiceDefinitionInAgentConfig(t *testing.T) {
	f, err := ParseServiceFile("agent.hcl", []byte("data_dir = \"/x\"\nports { grpc = 8502 }\nservice { name = \"web\" }\n"), "hcl", true)
	if err != nil || len(f.Services) != 1 {
		t.Fatalf("%v %+v", err, f)
	}
	if _, err := ParseServiceFile("agent.hcl", []byte("log_level = \"info\"\n"), "hcl", true); err != nil {
		t.Fatalf("an agent config without services: %v", err)
	}
}

// Consul's own test fixture of every config key (agent/config/testdata
// full-config.hcl and .json of v1.15.4, copied unchanged, MPL-2.0): the
// services in it read the same from HCL and from JSON, as Consul's own
// tests require of the agent.
func TestConsulFullConfigFixture(t *testing.T) {
	var regs [2]string
	for i, format := range []string{"hcl", "json"} {
		data, err := os.ReadFile("testdata/consul/full-config." + format)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ParseServiceFile("full-config."+format, data, format, true)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		var ids []string
		for _, s := range f.Services {
			ids = append(ids, s.ID())
		}
		if len(f.Services) != 5 || f.Services[0].Reg.Name != "o1ynPkp0" || f.Services[1].Reg.Name != "7IszXMQ1" {
			t.Errorf("%s: services %v", format, ids)
		}
		var what []any // positions differ between the formats, of course
		for _, s := range f.Services {
			what = append(what, s.Reg, s.Token)
		}
		out, _ := json.Marshal(what)
		regs[i] = string(out)
	}
	if regs[0] != regs[1] {
		t.Errorf("HCL and JSON read differently:\nHCL:  %s\nJSON: %s", regs[0], regs[1])
	}
}

// An agent config's checks apart from its services (check, checks at the
// top) are read with the service they belong to (service_id) and the ID
// the agent gives them (id, else name); a service-definition file has
// none.
func TestAnAgentConfigsTopLevelChecksAreRead(t *testing.T) {
	src := `service { name = "s", port = 7000 }
check { id = "s-tcp-7999", name = "s tcp 7999", service_id = "s", tcp = "127.0.0.1:7999", interval = "10m" }
checks = [{ name = "disk", args = ["/bin/true"], interval = "1m" }]
`
	f, err := ParseServiceFile("s.hcl", []byte(src), "hcl", true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.Checks {
		got = append(got, c.ID()+" of "+c.ServiceID+" tcp "+c.Def.TCP+" at line "+strings.Repeat("I", c.Line))
	}
	if want := "s-tcp-7999 of s tcp 127.0.0.1:7999 at line II; disk of  tcp  at line III"; strings.Join(got, "; ") != want {
		t.Errorf("checks: %s, want %s", strings.Join(got, "; "), want)
	}
	if _, err := ParseServiceFile("s.hcl", []byte(src), "hcl", false); err == nil || !strings.Contains(err.Error(), `"check" is not part of a service definition`) {
		t.Errorf("a service-definition file with a top-level check: %v", err)
	}
}
