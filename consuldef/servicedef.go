package consuldef

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	hclparser "github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"
	"github.com/mitchellh/mapstructure"

	"github.com/scenario-tool/scenario/internal/suggest"
)

// ServiceFile is a Consul service-definition file read the way the agent
// reads its config files: JSON or HCL, `service` or `services`, keys in
// snake_case or in the other spellings Consul accepts.
type ServiceFile struct {
	Path     string // as given; "inline" for a definition inside a scenario
	Services []ServiceDef
	// Checks are an agent config's checks defined apart from its
	// services (check or checks at the top).
	Checks []CheckDef
	format string // "json" or "hcl"
	data   []byte
	positions
}

// ServiceDef is one service of a definition file, in the API's form.
// Reg lacks fields Consul accepts (a check's disable_redirects,
// output_max_size, os_service), and it has checks and check in one list,
// in the agent's order: it is read, never sent. The definition is
// registered with Body, which keeps every field.
type ServiceDef struct {
	Reg   *api.AgentServiceRegistration
	Token string // the definition's token, used to register it
	Line  int    // where its definition starts in the file
	Col   int
	path  string         // its key path in the file: "service" or "services[2]"
	def   *consulService // as decoded, every field Consul reads
}

// CheckDef is a check an agent config defines apart from its services.
type CheckDef struct {
	Def       *api.AgentServiceCheck
	ServiceID string // the service it belongs to; "" for the node's own
	// DisableRedirects is its disable_redirects, which Def cannot carry.
	DisableRedirects bool
	Line, Col        int
	path             string // its key path: "check" or "checks[1]"
	osService        bool   // it sets os_service
}

// ID is the check's ID as the agent gives it: its id, or else its name
// (structs.CheckDefinition.HealthCheck).
func (c CheckDef) ID() string {
	if c.Def.CheckID != "" {
		return c.Def.CheckID
	}
	return c.Def.Name
}

// ID is the instance's service ID: its id, or its name when it has none.
func (s ServiceDef) ID() string {
	if s.Reg.ID != "" {
		return s.Reg.ID
	}
	return s.Reg.Name
}

// KeyPath is where the definition is in its file, as Consul spells key
// paths: "service" or "services[2]".
func (s ServiceDef) KeyPath() string { return s.path }

// SidecarID is the ID Consul gives the instance's sidecar registration.
func (s ServiceDef) SidecarID() string {
	if sc := s.Sidecar(); sc != nil && sc.ID != "" {
		return sc.ID
	}
	return s.ID() + "-sidecar-proxy"
}

// RedirectsDisabled says, for each check of the instance and of its
// sidecar (in Reg's order), whether it sets disable_redirects, which Reg
// cannot carry: such an HTTP check takes a redirect as its answer.
func (s ServiceDef) RedirectsDisabled() (checks, sidecarChecks []bool) {
	reg := normalised(s.def)
	if reg == nil {
		return nil, nil
	}
	for _, c := range reg.Checks {
		checks = append(checks, deref(c.DisableRedirects))
	}
	if reg.Connect != nil && reg.Connect.SidecarService != nil {
		for _, c := range reg.Connect.SidecarService.Checks {
			sidecarChecks = append(sidecarChecks, deref(c.DisableRedirects))
		}
	}
	return checks, sidecarChecks
}

// HasSidecar reports whether the definition has connect.sidecar_service.
func (s ServiceDef) HasSidecar() bool { return s.Sidecar() != nil }

// Upstreams of the instance's sidecar, as declared.
func (s ServiceDef) Upstreams() []api.Upstream {
	if sc := s.Sidecar(); sc != nil && sc.Proxy != nil {
		return sc.Proxy.Upstreams
	}
	return nil
}

// Sidecar is the definition's connect.sidecar_service; nil when it has
// none.
func (s ServiceDef) Sidecar() *api.AgentServiceRegistration {
	if s.Reg.Connect == nil {
		return nil
	}
	return s.Reg.Connect.SidecarService
}

// DefinitionError is a problem at a place in a service-definition file.
type DefinitionError struct {
	File      string
	Line, Col int
	Msg       string
	Key       string // the key path it is about, as Consul spells it, when known
}

func (e *DefinitionError) Error() string {
	if e.File == "inline" || e.File == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// maxDefinitionSize bounds a definition file: a service definition is a
// page of text, and a device or a huge file must not hang the loader.
const maxDefinitionSize = 1 << 20

// ReadDefinition reads a regular file of at most maxDefinitionSize bytes.
func ReadDefinition(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDefinitionSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDefinitionSize {
		return nil, fmt.Errorf("%s is larger than %d KiB; is it really a service definition?", path, maxDefinitionSize>>10)
	}
	return data, nil
}

// DefinitionFormat is the format Consul reads a file in, from its name:
// the agent loads only .json and .hcl files from a config dir.
func DefinitionFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return "json", nil
	case ".hcl":
		return "hcl", nil
	}
	return "", fmt.Errorf("%s: Consul reads definitions from .json and .hcl files only; rename it", path)
}

// ParseServiceFile reads a service-definition file in format ("json" or
// "hcl"). With agentConfig, the file may also hold agent configuration (a
// file of a config dir): only its services are read and the rest is left
// to Consul.
func ParseServiceFile(path string, data []byte, format string, agentConfig bool) (*ServiceFile, error) {
	f := &ServiceFile{Path: path, format: format, data: data}
	errAt := func(line, col int, format string, args ...any) error {
		return &DefinitionError{File: path, Line: max(line, 1), Col: max(col, 1), Msg: fmt.Sprintf(format, args...)}
	}
	// A syntax tree gives positions (HCL's AST, or encoding/json's
	// tokens); the agent's own decoding (plain encoding/json, or
	// hcl.Decode) gives the values, as in Consul.
	var tree *ast.File
	var err error
	var raw map[string]any
	switch format {
	case "json":
		err = json.Unmarshal(data, &raw)
	case "hcl":
		if tree, err = hclparser.Parse(data); err == nil {
			err = hcl.Decode(&raw, string(data))
		}
	default:
		return nil, errAt(1, 1, "unknown format %q", format)
	}
	if err != nil {
		line, col, msg := syntaxPosition(err, data)
		return nil, errAt(line, col, "invalid %s: %s", strings.ToUpper(format), msg)
	}
	if format == "json" {
		f.positions = jsonPositions(data)
	} else {
		f.positions = indexPositions(tree)
	}

	var target consulFile
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(hookWeakDecodeFromSlice, hookTranslateKeys),
		Metadata:   &md,
		Result:     &target,
	})
	if err != nil {
		return nil, err
	}
	var errs []error
	if err := dec.Decode(raw); err != nil {
		var me *mapstructure.Error
		if !errors.As(err, &me) {
			return nil, errAt(1, 1, "%v", err)
		}
		for _, e := range me.Errors {
			key, msg := "", e
			if m := quotedKey.FindStringSubmatch(e); m != nil {
				key, msg = m[1], m[2]
			}
			line, col := f.position(key)
			errs = append(errs, keyed(errAt(line, col, "%s: %s", key, msg), key))
		}
	}
	sort.Strings(md.Unused)
	for _, k := range md.Unused {
		top := strings.ToLower(strings.SplitN(k, ".", 2)[0])
		if !strings.Contains(k, ".") && !strings.Contains(k, "[") {
			if agentConfig {
				continue // agent configuration: Consul judges it
			}
			line, col := f.position(k)
			errs = append(errs, keyed(errAt(line, col, "%q is not part of a service definition (a definition file holds service or services; agent configuration belongs in start-agent's config-dir)", k), k))
			continue
		}
		_ = top
		line, col := f.position(k)
		hint := ""
		last := k[strings.LastIndexAny(k, ".]")+1:]
		if s := suggestConsulKey(last); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		errs = append(errs, keyed(errAt(line, col, "invalid config key %s (Consul does not know it%s)", k, hint), k))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	defs, paths := withKeyPaths(target.Service, "service", target.Services, "services")
	checks, checkPaths := withKeyPaths(target.Check, "check", target.Checks, "checks")
	for i, c := range checks {
		line, col := f.position(checkPaths[i])
		if !agentConfig {
			return nil, keyed(errAt(line, col, "%q is not part of a service definition (a definition file holds service or services; agent configuration belongs in start-agent's config-dir)", checkPaths[i]), checkPaths[i])
		}
		f.Checks = append(f.Checks, CheckDef{Def: checkToAPI(c), ServiceID: deref(c.ServiceID), DisableRedirects: deref(c.DisableRedirects),
			Line: line, Col: col, path: checkPaths[i], osService: c.OSService != nil})
	}
	if len(defs) == 0 && !agentConfig {
		return nil, errAt(1, 1, "no service in it: a service-definition file holds service {...} or services [...]")
	}
	for i, s := range defs {
		line, col := f.position(paths[i])
		if s.Name == nil || *s.Name == "" {
			return nil, keyed(errAt(line, col, "%s has no name", paths[i]), paths[i])
		}
		f.Services = append(f.Services, ServiceDef{Reg: serviceToAPI(s), Token: deref(s.Token), Line: line, Col: col, path: paths[i], def: s})
	}
	ids := map[string]int{}
	for i, s := range f.Services {
		if prev, dup := ids[s.ID()]; dup {
			return nil, errAt(s.Line, s.Col, "service ID %q is defined twice in this file (also at line %d); give each instance its own id", s.ID(), f.Services[prev].Line)
		}
		ids[s.ID()] = i
	}
	return f, nil
}

// osServiceChecks are the key paths of the checks of service s (at path)
// and of its sidecar that set os_service.
func osServiceChecks(path string, s *consulService) []string {
	var out []string
	checks, paths := withKeyPaths(s.Check, path+".check", s.Checks, path+".checks")
	for i, c := range checks {
		if c.OSService != nil {
			out = append(out, paths[i]+".os_service")
		}
	}
	if s.Connect != nil && s.Connect.SidecarService != nil {
		out = append(out, osServiceChecks(path+".connect.sidecar_service", s.Connect.SidecarService)...)
	}
	return out
}

// RefusedOnLinux lists the file's checks that an agent on Linux refuses,
// each at its key: an os_service check, since Consul v1.15.4 checks OS
// services on Windows only (agent/checks' os_service_unix.go says "not
// implemented"), and the runner's agents run on Linux.
func (f *ServiceFile) RefusedOnLinux() error {
	var keys []string
	for _, s := range f.Services {
		if s.def != nil {
			keys = append(keys, osServiceChecks(s.path, s.def)...)
		}
	}
	for _, c := range f.Checks {
		if c.osService {
			keys = append(keys, c.path+".os_service")
		}
	}
	var errs []error
	for _, key := range keys {
		line, col := f.position(key)
		errs = append(errs, &DefinitionError{File: f.Path, Line: line, Col: col, Key: key,
			Msg: key + ": Consul checks OS services on Windows only, and an agent on Linux refuses the check (\"not implemented\"); check the service with a script check (args, with enable_local_script_checks) or a TTL check instead"})
	}
	return errors.Join(errs...)
}

// withKeyPaths lists a file's one (under key) and many (under keys), as
// Consul reads both, with each one's key path for positions.
func withKeyPaths[T any](one *T, key string, many []T, keys string) ([]*T, []string) {
	var out []*T
	var paths []string
	if one != nil {
		out, paths = append(out, one), append(paths, key)
	}
	for i := range many {
		out, paths = append(out, &many[i]), append(paths, fmt.Sprintf("%s[%d]", keys, i))
	}
	return out, paths
}

// suggestConsulKey names the config-file key meant by an unknown one: the
// API's CamelCase spelling of a snake_case key (DestinationName for
// destination_name), CheckID for id, or a near miss.
func suggestConsulKey(key string) string {
	flat := strings.ToLower(strings.ReplaceAll(key, "_", ""))
	if flat == "checkid" {
		return "id"
	}
	for _, k := range knownConsulKeys() {
		if strings.ReplaceAll(k, "_", "") == flat && k != key {
			return k
		}
	}
	if s := suggest.Closest(key, knownConsulKeys()); !strings.EqualFold(s, key) {
		return s
	}
	return ""
}

// knownConsulKeys lists every key of a service definition, for "did you
// mean".
func knownConsulKeys() []string {
	seen := map[string]bool{}
	var keys []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t.Name()] {
			return
		}
		seen[t.Name()] = true
		for i := 0; i < t.NumField(); i++ {
			if name := strings.Split(t.Field(i).Tag.Get("mapstructure"), ",")[0]; name != "" {
				keys = append(keys, name)
			}
			walk(t.Field(i).Type)
		}
	}
	walk(reflect.TypeOf(consulFile{}))
	return keys
}

func keyed(err error, key string) error {
	if de, ok := err.(*DefinitionError); ok {
		de.Key = key
	}
	return err
}

var quotedKey = regexp.MustCompile(`^'([^']*)' (.*)$`)

var posPrefix = regexp.MustCompile(`^(?:At )?(?:[^:\s]*:)?(\d+):(\d+): (.*)$`)

func syntaxPosition(err error, data []byte) (line, col int, msg string) {
	var pe *hclparser.PosError
	if errors.As(err, &pe) {
		return pe.Pos.Line, pe.Pos.Column, pe.Err.Error()
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// The offending byte is the last one read.
		off := min(max(int(se.Offset)-1, 0), len(data))
		line = 1 + strings.Count(string(data[:off]), "\n")
		col = off - strings.LastIndexByte(string(data[:off]), '\n')
		return line, col, se.Error()
	}
	msg = err.Error()
	if m := posPrefix.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		col, _ = strconv.Atoi(m[2])
		return line, col, m[3]
	}
	return 1, 1, msg
}

// positions maps key paths as mapstructure spells them (lower case,
// "services[1].checks[0].id") to where they are in the file.
type positions map[string]token.Pos

func (p positions) position(path string) (int, int) {
	path = normalizeKeyPath(path)
	for path != "" {
		if pos, ok := p[path]; ok && pos.IsValid() {
			return pos.Line, pos.Column
		}
		cut := max(strings.LastIndexAny(path, ".["), 0)
		path = path[:cut]
	}
	return 1, 1
}

var mapIndex = regexp.MustCompile(`\[([^\]0-9][^\]]*)\]`)

func normalizeKeyPath(path string) string {
	return strings.ToLower(mapIndex.ReplaceAllString(path, ".$1"))
}

// KeySegments splits a key path as Consul spells it (a DefinitionError's
// Key, "service.checks[1].tll" or "service.meta[k]") into its keys and
// list indexes, in lower case: service, checks, 1, tll.
func KeySegments(path string) []string {
	return strings.Split(strings.NewReplacer("[", ".", "]", "").Replace(normalizeKeyPath(path)), ".")
}

// indexPositions indexes an HCL file by key path, from its syntax tree
// (JSON files are indexed by jsonPositions).
func indexPositions(tree *ast.File) positions {
	p := positions{}
	if list, ok := tree.Node.(*ast.ObjectList); ok {
		p.walk(list, "")
	}
	return p
}

func keyText(k *ast.ObjectKey) string {
	if s, ok := k.Token.Value().(string); ok {
		return s
	}
	return k.Token.Text
}

func (p positions) record(path string, pos token.Pos) {
	if _, ok := p[path]; !ok {
		p[path] = pos
	}
}

func (p positions) walk(list *ast.ObjectList, prefix string) {
	counts := map[string]int{}
	for _, item := range list.Items {
		path := prefix
		var last *ast.ObjectKey
		for _, k := range item.Keys {
			if path != "" {
				path += "."
			}
			path += strings.ToLower(keyText(k))
			last = k
			p.record(path, k.Pos())
		}
		if last == nil {
			continue
		}
		switch v := item.Val.(type) {
		case *ast.ObjectType:
			// A block: `checks { } checks { }` is a list in HCL.
			n := counts[path]
			counts[path]++
			indexed := fmt.Sprintf("%s[%d]", path, n)
			p.record(indexed, last.Pos())
			p.walk(v.List, indexed)
			p.walk(v.List, path)
		case *ast.ListType:
			for i, e := range v.List {
				indexed := fmt.Sprintf("%s[%d]", path, i)
				p.record(indexed, e.Pos())
				if ot, ok := e.(*ast.ObjectType); ok {
					p.walk(ot.List, indexed)
					if len(v.List) == 1 {
						p.walk(ot.List, path)
					}
				}
			}
		}
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func serviceToAPI(s *consulService) *api.AgentServiceRegistration {
	r := &api.AgentServiceRegistration{
		Kind:              api.ServiceKind(deref(s.Kind)),
		ID:                deref(s.ID),
		Name:              deref(s.Name),
		Tags:              s.Tags,
		Port:              deref(s.Port),
		Address:           deref(s.Address),
		SocketPath:        deref(s.SocketPath),
		EnableTagOverride: deref(s.EnableTagOverride),
		Meta:              s.Meta,
	}
	if len(s.TaggedAddresses) > 0 {
		r.TaggedAddresses = map[string]api.ServiceAddress{}
		for k, a := range s.TaggedAddresses {
			r.TaggedAddresses[k] = api.ServiceAddress{Address: deref(a.Address), Port: deref(a.Port)}
		}
	}
	if s.Weights != nil {
		r.Weights = &api.AgentWeights{Passing: deref(s.Weights.Passing), Warning: deref(s.Weights.Warning)}
	}
	// The agent puts check after checks (agent/config.builder.serviceVal),
	// and numbers the checks it names in that order.
	for i := range s.Checks {
		r.Checks = append(r.Checks, checkToAPI(&s.Checks[i]))
	}
	if s.Check != nil {
		r.Checks = append(r.Checks, checkToAPI(s.Check))
	}
	if s.Proxy != nil {
		r.Proxy = proxyToAPI(s.Proxy)
	}
	if s.Connect != nil {
		r.Connect = &api.AgentServiceConnect{Native: deref(s.Connect.Native)}
		if s.Connect.SidecarService != nil {
			r.Connect.SidecarService = serviceToAPI(s.Connect.SidecarService)
		}
	}
	return r
}

func checkToAPI(c *consulCheck) *api.AgentServiceCheck {
	return &api.AgentServiceCheck{
		CheckID:                        deref(c.ID),
		Name:                           deref(c.Name),
		Args:                           c.ScriptArgs,
		DockerContainerID:              deref(c.DockerContainerID),
		Shell:                          deref(c.Shell),
		Interval:                       deref(c.Interval),
		Timeout:                        deref(c.Timeout),
		TTL:                            deref(c.TTL),
		HTTP:                           deref(c.HTTP),
		Header:                         c.Header,
		Method:                         deref(c.Method),
		Body:                           deref(c.Body),
		TCP:                            deref(c.TCP),
		UDP:                            deref(c.UDP),
		Status:                         deref(c.Status),
		Notes:                          deref(c.Notes),
		TLSServerName:                  deref(c.TLSServerName),
		TLSSkipVerify:                  deref(c.TLSSkipVerify),
		GRPC:                           deref(c.GRPC),
		GRPCUseTLS:                     deref(c.GRPCUseTLS),
		H2PING:                         deref(c.H2PING),
		H2PingUseTLS:                   deref(c.H2PingUseTLS),
		AliasNode:                      deref(c.AliasNode),
		AliasService:                   deref(c.AliasService),
		SuccessBeforePassing:           deref(c.SuccessBeforePassing),
		FailuresBeforeWarning:          deref(c.FailuresBeforeWarning),
		FailuresBeforeCritical:         deref(c.FailuresBeforeCritical),
		DeregisterCriticalServiceAfter: deref(c.DeregisterCriticalServiceAfter),
	}
}

func proxyToAPI(p *consulProxy) *api.AgentServiceConnectProxyConfig {
	r := &api.AgentServiceConnectProxyConfig{
		DestinationServiceName: deref(p.DestinationServiceName),
		DestinationServiceID:   deref(p.DestinationServiceID),
		LocalServiceAddress:    deref(p.LocalServiceAddress),
		LocalServicePort:       deref(p.LocalServicePort),
		LocalServiceSocketPath: p.LocalServiceSocketPath,
		Mode:                   api.ProxyMode(deref(p.Mode)),
		Config:                 p.Config,
	}
	if p.TransparentProxy != nil {
		r.TransparentProxy = &api.TransparentProxyConfig{
			OutboundListenerPort: deref(p.TransparentProxy.OutboundListenerPort),
			DialedDirectly:       deref(p.TransparentProxy.DialedDirectly),
		}
	}
	if p.MeshGateway != nil {
		r.MeshGateway.Mode = api.MeshGatewayMode(deref(p.MeshGateway.Mode))
	}
	if p.Expose != nil {
		r.Expose.Checks = deref(p.Expose.Checks)
		for _, e := range p.Expose.Paths {
			r.Expose.Paths = append(r.Expose.Paths, api.ExposePath{
				ListenerPort: deref(e.ListenerPort), Path: deref(e.Path), LocalPathPort: deref(e.LocalPathPort), Protocol: deref(e.Protocol),
			})
		}
	}
	for _, u := range p.Upstreams {
		up := api.Upstream{
			DestinationType:      api.UpstreamDestType(deref(u.DestinationType)),
			DestinationNamespace: deref(u.DestinationNamespace),
			DestinationPartition: deref(u.DestinationPartition),
			DestinationPeer:      deref(u.DestinationPeer),
			DestinationName:      deref(u.DestinationName),
			Datacenter:           deref(u.Datacenter),
			LocalBindAddress:     deref(u.LocalBindAddress),
			LocalBindPort:        deref(u.LocalBindPort),
			LocalBindSocketPath:  deref(u.LocalBindSocketPath),
			LocalBindSocketMode:  deref(u.LocalBindSocketMode),
			Config:               u.Config,
		}
		if u.MeshGateway != nil {
			up.MeshGateway.Mode = api.MeshGatewayMode(deref(u.MeshGateway.Mode))
		}
		r.Upstreams = append(r.Upstreams, up)
	}
	return r
}

// ParseServiceDefinition reads a JSON file holding one service, as the
// agent reads it, into the API's registration type.
func ParseServiceDefinition(data []byte) (*api.AgentServiceRegistration, error) {
	f, err := ParseServiceFile("definition.json", data, "json", false)
	if err != nil {
		return nil, err
	}
	if len(f.Services) != 1 {
		return nil, fmt.Errorf("expected one service, found %d", len(f.Services))
	}
	return f.Services[0].Reg, nil
}
