package consuldef

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// dropped is a definition with the fields the api type loses: a check's
// disable_redirects, output_max_size and h2ping_use_tls = false; and
// what the agent's config builder completes (weights) or reorders
// (check after checks).
const dropped = `service {
  name = "web"
  id = "web-1"
  port = 8080
  weights { warning = 3 }
  check { name = "last", ttl = "10m" }
  checks = [
    { name = "redirect", http = "http://127.0.0.1:8282/", interval = "10s", disable_redirects = true, output_max_size = 64 },
    { name = "ping", h2ping = "127.0.0.1:8283", interval = "10s", h2ping_use_tls = false, token = "check-token" },
  ]
  connect { sidecar_service { port = 21000, checks = [{ name = "alias", alias_service = "web-1" }] } }
}
`

func parseOne(t *testing.T, src string) ServiceDef {
	t.Helper()
	f, err := ParseServiceFile("web.hcl", []byte(src), "hcl", false)
	if err != nil {
		t.Fatal(err)
	}
	return f.Services[0]
}

// The body registers what the definition says, every field the agent
// reads from a config file: the api type would have dropped
// disable_redirects and output_max_size, and an h2ping_use_tls of false
// (left out, Consul's default true applies).
func TestTheRegistrationBodyKeepsWhatTheAPITypeDrops(t *testing.T) {
	def := parseOne(t, dropped)
	viaAPI, _ := json.Marshal(def.Reg)
	for _, lost := range []string{"DisableRedirects", "OutputMaxSize", "H2PingUseTLS"} {
		if strings.Contains(string(viaAPI), lost) {
			t.Fatalf("the api type carries %s: the test proves nothing (%s)", lost, viaAPI)
		}
	}
	raw, err := def.Body("")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Check   json.RawMessage
		Checks  []map[string]any
		Weights map[string]int
		Token   *string
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Checks) != 3 || body.Check != nil {
		t.Fatalf("checks %v, check %s: want the three in one list", body.Checks, body.Check)
	}
	var names []any
	for _, c := range body.Checks {
		names = append(names, c["Name"])
	}
	// The agent puts check after checks, and numbers unnamed ones so.
	if !reflect.DeepEqual(names, []any{"redirect", "ping", "last"}) {
		t.Errorf("checks in the order %v, want the agent's: checks, then check", names)
	}
	redirect, ping := body.Checks[0], body.Checks[1]
	if redirect["DisableRedirects"] != true || redirect["OutputMaxSize"] != 64.0 {
		t.Errorf("the redirect check lost disable_redirects or output_max_size: %v", redirect)
	}
	if v, ok := ping["H2PingUseTLS"]; !ok || v != false {
		t.Errorf("the ping check lost h2ping_use_tls = false: %v", ping)
	}
	if _, ok := ping["Token"]; ok || body.Token != nil {
		t.Errorf("a token is in the body (the endpoint has no field for a check's, and takes the service's from the request): %s", raw)
	}
	if body.Weights["Passing"] != 1 || body.Weights["Warning"] != 3 {
		t.Errorf("weights %v, want passing 1 (the agent's default for a config file) and warning 3", body.Weights)
	}
	if body.Checks[2]["OutputMaxSize"] != 4096.0 {
		t.Errorf("a check without output_max_size: %v, want 4096 as the agent gives a config file's", body.Checks[2])
	}
	if sidecar, _ := def.Body("10.0.0.7"); !strings.Contains(string(sidecar), `"Address":"10.0.0.7"`) {
		t.Errorf("the sidecar's address is not the one given: %s", sidecar)
	}
}

// fill sets every field of the struct v points to, nested ones too (down
// to depth), as a definition that writes every key would.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 0 {
			v.Set(reflect.New(v.Type().Elem()))
			fill(v.Elem(), depth)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), depth-1)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth)
		v.SetMapIndex(reflect.ValueOf("k"), e)
	case reflect.String:
		v.SetString("x")
	case reflect.Int:
		v.SetInt(1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Interface:
		v.Set(reflect.ValueOf("x"))
	}
}

// Every key of a service definition that /v1/agent/service/register has
// a field for reaches the body: a definition that sets every key of the
// mirror of Consul's decoder is sent with each json tag of it.
func TestEveryKeyOfADefinitionReachesTheBody(t *testing.T) {
	var def consulService
	fill(reflect.ValueOf(&def).Elem(), 6)
	kind := "connect-proxy" // a kind the agent keeps
	def.Kind = &kind
	raw, err := ServiceDef{def: &def}.Body("")
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				sent[k] = true
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	walk(v)
	var missing []string
	for _, typ := range []any{consulService{}, consulCheck{}, consulAddress{}, consulWeights{}, consulConnect{}, consulProxy{},
		consulUpstream{}, consulMeshGateway{}, consulTransparentProxy{}, consulExpose{}, consulExposePath{}} {
		rt := reflect.TypeOf(typ)
		for i := 0; i < rt.NumField(); i++ {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			// check goes into checks, in the agent's order.
			if name == "-" || name == "Check" || sent[name] {
				continue
			}
			missing = append(missing, rt.Name()+"."+name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("never in the body: %v\n%s", missing, raw)
	}
	// What the endpoint has no field for is not sent (its decoder refuses
	// unknown fields): a check's token and service_id, expose.port; nor
	// the service's token, which goes with the request. Only the
	// sidecar's token is sent (TestTheSidecarsOwnTokenReachesTheAgent).
	top := v.(map[string]any)
	if _, ok := top["Token"]; ok {
		t.Errorf("the body has the instance's token, which goes in the header: %s", raw)
	}
	if _, ok := top["Connect"].(map[string]any)["SidecarService"].(map[string]any)["Token"]; !ok {
		t.Errorf("the body lacks the sidecar's token: %s", raw)
	}
	for _, absent := range []string{`"ServiceID"`, `"Port":1,"Paths"`} {
		if strings.Contains(string(raw), absent) {
			t.Errorf("the body has %s: %s", absent, raw)
		}
	}
}

// What the agent shows of a registration is compared with what it was
// given: agreeing, nothing is said; a field it changed or dropped is
// named.
func TestDisagreementsNameWhatTheAgentDidNotKeep(t *testing.T) {
	def := parseOne(t, dropped)
	services := map[string]*api.AgentService{
		"web-1": {ID: "web-1", Service: "web", Port: 8080, Weights: api.AgentWeights{Passing: 1, Warning: 3}},
		"web-1-sidecar-proxy": {ID: "web-1-sidecar-proxy", Service: "web-sidecar-proxy", Kind: api.ServiceKindConnectProxy, Port: 21000,
			Weights: api.AgentWeights{Passing: 1, Warning: 1}, Proxy: &api.AgentServiceConnectProxyConfig{DestinationServiceName: "web"}},
	}
	checks := map[string]AgentCheck{
		"service:web-1:1":               {Name: "redirect", ServiceID: "web-1", Type: "http", Interval: "10s"},
		"service:web-1:2":               {Name: "ping", ServiceID: "web-1", Type: "h2ping", Interval: "10s"},
		"service:web-1:3":               {Name: "last", ServiceID: "web-1", Type: "ttl"},
		"service:web-1-sidecar-proxy":   {Name: "alias", ServiceID: "web-1-sidecar-proxy", Type: "alias"},
		"service:web-1-sidecar-proxy:1": {Name: "elsewhere", ServiceID: "web-1-sidecar-proxy", Type: "tcp"},
	}
	if got := def.Disagreements("", services, checks); len(got) > 0 {
		t.Fatalf("the agent as the definition says, yet: %q", got)
	}
	services["web-1"].Weights.Warning = 0
	checks["service:web-1:1"] = AgentCheck{Name: "redirect", ServiceID: "web-1", Type: "", Interval: "10s"}
	delete(checks, "service:web-1:3")
	got := strings.Join(def.Disagreements("", services, checks), "\n")
	for _, want := range []string{
		"service web-1: the agent has weights passing 1, warning 0, the definition passing 1, warning 3",
		`check service:web-1:1 of web-1: the agent made a "" check, the definition a "http" one`,
		"check service:web-1:3 of web-1 is not registered",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("disagreements lack %q:\n%s", want, got)
		}
	}
	if got := def.Disagreements("10.0.0.7", services, checks); !slices.ContainsFunc(got, func(s string) bool {
		return strings.Contains(s, `the sidecar web-1-sidecar-proxy: the agent has address "", the definition "10.0.0.7"`)
	}) {
		t.Errorf("the sidecar's given address is not compared: %q", got)
	}
}

// The agent's kind of check is Consul's CheckType.Type: what decides it
// is what the definition sets, an interval where one is needed.
func TestCheckTypeIsConsuls(t *testing.T) {
	s := func(v string) *string { return &v }
	for want, c := range map[string]consulCheck{
		"http":       {HTTP: s("http://x/"), Interval: s("10s")},
		"ttl":        {TTL: s("10m")},
		"tcp":        {TCP: s("x:1"), Interval: s("1s")},
		"alias":      {AliasService: s("web")},
		"script":     {ScriptArgs: []string{"true"}, Interval: s("1s")},
		"docker":     {ScriptArgs: []string{"true"}, DockerContainerID: s("c"), Interval: s("1s")},
		"h2ping":     {H2PING: s("x:1"), Interval: s("1s")},
		"os_service": {OSService: s("sshd"), Interval: s("1s")},
		"grpc":       {GRPC: s("x:1"), HTTP: s("http://x/"), Interval: s("1s")},
		"":           {HTTP: s("http://x/")},
	} {
		if got := checkType(c); got != want {
			t.Errorf("%+v: %q, want %q", c, got, want)
		}
	}
}

// An os_service check is refused where it is written: Consul on Linux
// does not implement it, and would refuse the registration.
func TestAnOSServiceCheckIsRefusedOnLinux(t *testing.T) {
	f, err := ParseServiceFile("svc.hcl", []byte("service {\n  name = \"svc\"\n  check {\n    os_service = \"sshd\"\n    interval = \"10s\"\n  }\n}\n"), "hcl", false)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := f.Services[0].Body("")
	if !strings.Contains(string(raw), `"OSService":"sshd"`) {
		t.Errorf("os_service is not in the body: %s", raw)
	}
	err = f.RefusedOnLinux()
	if err == nil || !strings.Contains(err.Error(), `svc.hcl:4:5: service.check.os_service: Consul checks OS services on Windows only`) {
		t.Errorf("an os_service check: %v", err)
	}
}

// A sidecar_service's own token registers the sidecar, as the agent
// uses it for a config file and for the API (sidecarServiceFromNodeService):
// it is in the body, under the sidecar, and nowhere else; the instance's
// token goes in the request's header, and a check's nowhere.
func TestTheSidecarsOwnTokenReachesTheAgent(t *testing.T) {
	def := parseOne(t, `service {
  name = "web"
  token = "instance-token"
  check { ttl = "10m", token = "check-token" }
  connect { sidecar_service { token = "sidecar-token" } }
}
`)
	raw, err := def.Body("")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Token   *string
		Connect struct{ SidecarService struct{ Token string } }
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if body.Connect.SidecarService.Token != "sidecar-token" {
		t.Errorf("the sidecar's token is not in the body: %s", raw)
	}
	if body.Token != nil || strings.Contains(string(raw), "instance-token") || strings.Contains(string(raw), "check-token") {
		t.Errorf("the body carries a token that belongs in the header or nowhere: %s", raw)
	}
}

// In transparent mode the agent appends to a proxy's upstreams those
// that central config (service-defaults' upstream_config) names
// (configentry.MergeServiceConfig), binding nothing locally, and its API
// does not mark them: they are not the definition's, and do not make it
// disagree. An upstream of the definition the agent lost still does, and
// so does one more in another mode or one that binds a port.
func TestUpstreamsCentralConfigAddsAreNotTheDefinitions(t *testing.T) {
	def := parseOne(t, `service {
  name = "web"
  port = 8080
  connect { sidecar_service { proxy { mode = "transparent", upstreams = [{ destination_name = "db", local_bind_port = 9191 }] } } }
}
`)
	sidecar := &api.AgentService{ID: "web-sidecar-proxy", Service: "web-sidecar-proxy", Kind: api.ServiceKindConnectProxy,
		Weights: api.AgentWeights{Passing: 1, Warning: 1},
		Proxy: &api.AgentServiceConnectProxyConfig{DestinationServiceName: "web", Mode: api.ProxyModeTransparent, Upstreams: []api.Upstream{
			{DestinationName: "db", LocalBindPort: 9191},
			{DestinationName: "cache"},
		}}}
	services := map[string]*api.AgentService{
		"web":               {ID: "web", Service: "web", Port: 8080, Weights: api.AgentWeights{Passing: 1, Warning: 1}},
		"web-sidecar-proxy": sidecar,
	}
	if got := def.Disagreements("", services, nil); len(got) > 0 {
		t.Fatalf("the upstreams central config adds count as the definition's: %q", got)
	}
	for name, upstreams := range map[string][]api.Upstream{
		"db lost":             {{DestinationName: "cache"}},
		"one more that binds": {{DestinationName: "db", LocalBindPort: 9191}, {DestinationName: "cache", LocalBindPort: 9292}},
	} {
		sidecar.Proxy.Upstreams = upstreams
		if got := def.Disagreements("", services, nil); len(got) == 0 {
			t.Errorf("%s, yet no disagreement", name)
		}
	}
	sidecar.Proxy.Mode, sidecar.Proxy.Upstreams = api.ProxyModeDefault, []api.Upstream{{DestinationName: "db", LocalBindPort: 9191}, {DestinationName: "cache"}}
	if got := def.Disagreements("", services, nil); len(got) == 0 {
		t.Error("one more upstream outside transparent mode, yet no disagreement")
	}
}
