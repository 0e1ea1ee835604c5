package spec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
)

// probe is a value struct of the kind step types declare, to show the
// package on its own: the loader's tests (package scenariofile) cover
// the format as a whole.
type probe struct {
	To     string   `key:"to,required" shape:"SERVICE" doc:"where"`
	Action string   `key:"action" enum:"allow,deny" default:"allow" doc:"what"`
	Within Duration `key:"within" default:"5s" doc:"how long"`
}

func decodeProbe(t *testing.T, src string) (probe, []string) {
	t.Helper()
	return decodeAs[probe](t, src, "probe")
}

// decodeAs decodes src, a value of what, into a T.
func decodeAs[T any](t *testing.T, src, what string) (T, []string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder("dir/f.yaml")
	var v T
	d.Decode(doc.Content[0], what, &v)
	var errs []string
	for _, e := range d.Errors() {
		errs = append(errs, e.Error())
	}
	return v, errs
}

func TestDecodeReportsEveryProblemAtItsPlace(t *testing.T) {
	p, errs := decodeProbe(t, "to: web\n")
	if len(errs) != 0 || p.To != "web" || p.Action != "allow" || time.Duration(p.Within) != 5*time.Second {
		t.Errorf("defaults: %+v %q", p, errs)
	}
	_, errs = decodeProbe(t, "action: alow\nwithin: -1s\ntoo: web\n")
	// "to" is misspelt, so its absence is not reported a second time.
	want := []string{
		`dir/f.yaml:1:9: probe.action: "alow" is not one of allow, deny (did you mean "allow"?)`,
		`dir/f.yaml:2:9: probe.within must be positive, not -1s`,
		`dir/f.yaml:3:1: probe: unknown key "too" (did you mean "to"?); known keys: to, action, within`,
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
}

func TestSchemaShapeAndKeysComeFromTheTags(t *testing.T) {
	typ := reflect.TypeFor[probe]()
	if got := Shape(typ); got != "{to, [action: allow|deny], [within]}" {
		t.Errorf("shape: %s", got)
	}
	s := Schema(typ)
	if s["additionalProperties"] != false || !reflect.DeepEqual(s["required"], []string{"to"}) {
		t.Errorf("schema: %v", s)
	}
	keys := Keys(typ)
	if len(keys) != 3 || keys[0].Key != "to" || !keys[0].Required || keys[2].Shape != "DURATION" || keys[2].Default != "5s" {
		t.Errorf("keys: %+v", keys)
	}
}

// The book is the decoder's: what one step defines, a later step of the
// same file may use, once; another file's decoder knows nothing of it.
func TestTheBookHoldsWhatEarlierStepsDefined(t *testing.T) {
	d, other := NewDecoder("f.yaml"), NewDecoder("g.yaml")
	at := &yaml.Node{Line: 3, Column: 5}
	if d.Use(KindConn, "step-1", at) {
		t.Fatal("a connection no step opened is usable")
	}
	d.BeginStep(0)
	if name := d.OpenConn("", at); name != "step-1" || !d.Use(KindConn, "step-1", at) || d.LastConn() != "step-1" {
		t.Errorf("OpenConn named %q; usable %v, last %q", name, d.Use(KindConn, name, at), d.LastConn())
	}
	d.Define(KindConn, "step-1", at)
	d.Define(KindProcess, AgentName, at)
	d.NeedAgent(at, "check")
	other.NeedAgent(at, "check")
	var got []string
	for _, e := range append(d.Errors(), other.Errors()...) {
		got = append(got, e.Error())
	}
	want := []string{
		`f.yaml:3:5: no earlier step opened conn "step-1"`,
		`f.yaml:3:5: conn "step-1" is already opened at line 3; stop it first or pick another name`,
		`g.yaml:3:5: check needs a running Consul agent: add a start-agent step before it`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// presence is a value whose keys' presence is typed: a pointer for a key
// without a default, an Optional for one with.
type presence struct {
	Reply  *string            `key:"reply" doc:"what comes back"`
	Within Optional[Duration] `key:"within" default:"5s" doc:"how long"`
}

func TestPresenceIsTypedAndLeavesTheSchemaAsIfPlain(t *testing.T) {
	decode := func(src string) presence {
		t.Helper()
		p, errs := decodeAs[presence](t, src, "presence")
		if len(errs) > 0 {
			t.Fatalf("%s: %v", src, errs)
		}
		return p
	}
	if p := decode("{}"); p.Reply != nil || p.Within.Set || time.Duration(p.Within.Value) != 5*time.Second {
		t.Errorf("absent keys: reply %v, within %+v; want nil, the default and not set", p.Reply, p.Within)
	}
	if p := decode(`{reply: "", within: 5s}`); p.Reply == nil || *p.Reply != "" || !p.Within.Set {
		t.Errorf("written keys: reply %v, within %+v; want an empty reply and within set, though both equal their zero or default", p.Reply, p.Within)
	}
	type plain struct {
		Reply  string   `key:"reply" doc:"what comes back"`
		Within Duration `key:"within" default:"5s" doc:"how long"`
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"schema", Schema(reflect.TypeFor[presence]()), Schema(reflect.TypeFor[plain]())},
		{"shape", Shape(reflect.TypeFor[presence]()), Shape(reflect.TypeFor[plain]())},
		{"keys", Keys(reflect.TypeFor[presence]()), Keys(reflect.TypeFor[plain]())},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s of typed presence: %v; want the plain value's %v", c.what, c.got, c.want)
		}
	}
}

// A key's position is asked for by the field it was decoded into, so a
// misspelt key cannot compile; a pointer to anything else is a bug.
func TestNodeOfNamesAKeyByItsField(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("reply: hi\nwithin: 2s\n"), &doc); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder("f.yaml")
	var p presence
	f, ok := d.Decode(doc.Content[0], "presence", &p)
	if !ok {
		t.Fatal(d.Errors())
	}
	if n := f.NodeOf(&p.Reply); n == nil || n.Value != "hi" || f.NodeOf(p.Reply) != n {
		t.Errorf("reply: %v; want its value node, by the field's address or by the pointer it holds", n)
	}
	if k := f.KeyOf(&p.Within); k == nil || k.Value != "within" || k.Line != 2 {
		t.Errorf("within's key: %v", k)
	}
	defer func() {
		if recover() == nil {
			t.Error("NodeOf took a pointer to a local variable")
		}
	}()
	local := "hi"
	f.NodeOf(&local)
}

// The book knows a registration's check definitions by the IDs the agent
// gives them, Consul's default sidecar checks included, and its sidecar's
// service by the ID and the name Consul gives it.
func TestTheBookKnowsChecksAndSidecarServices(t *testing.T) {
	d := NewDecoder("f.yaml")
	at := &yaml.Node{Line: 3, Column: 5}
	d.AddInstance(consuldef.ServiceDef{Reg: &api.AgentServiceRegistration{Name: "web", ID: "web-1",
		Checks:  api.AgentServiceChecks{{TTL: "10m"}, {TCP: "127.0.0.1:8080", Interval: "1s"}},
		Connect: &api.AgentServiceConnect{SidecarService: &api.AgentServiceRegistration{}}}}, at)
	checks := d.RegisteredChecks()
	if c := checks[CheckKey{ID: "service:web-1:2"}]; c.Service != "web-1" || c.Def.TCP != "127.0.0.1:8080" || c.Kind != "a TCP" {
		t.Errorf("web-1's second check: %+v", c)
	}
	if c := checks[CheckKey{ID: "service:web-1-sidecar-proxy:1"}]; !c.DefaultSidecar || c.Kind != "a TCP" || c.Def.TCP != "" || c.Def.Interval != "10s" {
		t.Errorf("the sidecar's default TCP check: %+v", c)
	}
	if c := checks[CheckKey{ID: "service:web-1-sidecar-proxy:2"}]; c.DefaultSidecar || c.Def.AliasService != "web-1" {
		t.Errorf("the sidecar's default alias check: %+v", c)
	}
	if got := fmt.Sprint(d.ChecksOf("web-1-sidecar-proxy")["service:web-1-sidecar-proxy:2"]); !strings.Contains(got, "web-1") {
		t.Errorf("ChecksOf the sidecar lacks its alias check: %s", got)
	}
	for ref, want := range map[string]string{"web-1-sidecar-proxy": "web-sidecar-proxy web-1-sidecar-proxy true", "web-sidecar-proxy": "web-sidecar-proxy  true", "web": "  false"} {
		name, id, ok := d.SidecarService(ref)
		if got := fmt.Sprint(name, " ", id, " ", ok); got != want {
			t.Errorf("SidecarService(%s) = %s, want %s", ref, got, want)
		}
	}
	d.SetTTL("service:web-1:1", "critical", "down", at)
	if got := fmt.Sprint(d.TTLSettings()); got != "map[{ service:web-1:1}:{critical down f.yaml:3:5}]" {
		t.Errorf("TTLSettings = %s", got)
	}
}

// Check IDs are an agent's: the same service ID registered on two nodes
// with different checks is two checks, each known by its node.
func TestTheBookKnowsEachNodesChecksApart(t *testing.T) {
	d := NewDecoder("f.yaml")
	at := &yaml.Node{Line: 3, Column: 5}
	for _, n := range []struct{ node, target string }{{"app1", "127.0.0.1:9001"}, {"app2", "127.0.0.1:9002"}} {
		d.BeginNode(n.node)
		d.AddInstance(consuldef.ServiceDef{Reg: &api.AgentServiceRegistration{Name: "api",
			Check: &api.AgentServiceCheck{TCP: n.target, Interval: "1h"}}}, at)
		d.SetTTL("service:api", "passing", "up", at)
	}
	checks := d.RegisteredChecks()
	for node, want := range map[string]string{"app1": "127.0.0.1:9001", "app2": "127.0.0.1:9002"} {
		if c := checks[CheckKey{Node: node, ID: "service:api"}]; c.Def == nil || c.Def.TCP != want {
			t.Errorf("api's check on %s: %+v, want TCP %s", node, c, want)
		}
	}
	if got := len(d.TTLSettings()); got != 2 {
		t.Errorf("%d TTL settings, want one per node: %v", got, d.TTLSettings())
	}
}

// On a scenario's nodes, a dev agent restarted forgets what was registered
// with it (instances, checks, TTL settings), and only that: an instance
// registered on another node too, or only there, stays known.
func TestADevAgentRestartedOnANodeForgetsOnlyItsOwnServices(t *testing.T) {
	d := NewDecoder("f.yaml")
	d.nodes = []string{"app1", "app2"}
	at := &yaml.Node{Line: 3, Column: 5}
	register := func(node, name string) {
		d.BeginNode(node)
		d.AddInstance(consuldef.ServiceDef{Reg: &api.AgentServiceRegistration{Name: name, Check: &api.AgentServiceCheck{TTL: "1h"}}}, at)
		d.SetTTL("service:"+name, "passing", "up", at)
	}
	d.BeginNode("app1")
	d.StartAgent(true, at)
	d.BeginNode("app2")
	d.StartAgent(true, at)
	register("app1", "web")
	register("app1", "api")
	register("app2", "api")
	register("app2", "db")
	d.BeginNode("app1")
	d.Undefine(KindProcess, AgentName)
	d.StartAgent(true, at)
	for name, want := range map[string]bool{"web": false, "api": true, "db": true} {
		if got := d.Defined(KindService, name); got != want {
			t.Errorf("service %s known after app1's dev agent restarted: %v, want %v", name, got, want)
		}
		if _, got := d.InstanceByID(name); got != want {
			t.Errorf("instance %s after app1's dev agent restarted: %v, want %v", name, got, want)
		}
	}
	for k := range d.RegisteredChecks() {
		if k.Node == "app1" {
			t.Errorf("app1's check %s is still known", k.ID)
		}
	}
	if got := len(d.RegisteredChecks()); got != 2 {
		t.Errorf("%d checks known, want app2's 2: %v", got, d.RegisteredChecks())
	}
	for k := range d.TTLSettings() {
		if k.Node == "app1" {
			t.Errorf("app1's TTL setting of %s is still known", k.ID)
		}
	}
}
