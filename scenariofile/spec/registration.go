package spec

// What a registration or an intention implies, checked where the book
// learns of it: Consul's own errors at the key they are about, what the
// built-in proxy would ignore, a sidecar's checks, intentions on names
// nothing registered.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/internal/suggest"
)

// ReportDefinitionErrors reports each problem of a definition at the
// step, each naming its own file:line:col.
func (d *Decoder) ReportDefinitionErrors(at *yaml.Node, what string, err error) {
	for _, e := range unjoin(err) {
		d.Errorf(at, "%s: %v", what, e)
	}
}

// unjoin lists the errors err joins, or err alone.
func unjoin(err error) []error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		return joined.Unwrap()
	}
	return []error{err}
}

// ReportInlineErrors reports problems of an inline definition at the YAML
// key they are about.
func (d *Decoder) ReportInlineErrors(root *yaml.Node, what string, err error) {
	for _, e := range unjoin(err) {
		at := root
		var de *consuldef.DefinitionError
		if errors.As(e, &de) && de.Key != "" {
			at = yamlNodeAt(root, de.Key)
		}
		d.Errorf(at, "%s: %v", what, e)
	}
}

// yamlNodeAt finds the node a key path ("service.checks[1].tll") names
// under root, the value of the path's first key; the deepest one found.
func yamlNodeAt(root *yaml.Node, path string) *yaml.Node {
	segs := consuldef.KeySegments(path)
	node := Resolve(root)
	for i, seg := range segs {
		if i == 0 {
			continue // the root itself: service or services
		}
		switch node.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for _, kv := range MappingPairs(node) {
				if strings.EqualFold(kv[0].Value, seg) {
					next = kv[1]
					if i == len(segs)-1 {
						next = kv[0] // point at the key itself
					}
					break
				}
			}
			if next == nil {
				return node
			}
			node = Resolve(next)
		case yaml.SequenceNode:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(node.Content) {
				return node
			}
			node = Resolve(node.Content[n])
		default:
			return node
		}
	}
	return node
}

// warnDefaultSidecarChecks warns when a sidecar keeps Consul's default
// checks: a TCP check every 10 s whose first run falls at a random moment
// in that interval, so the sidecar may take up to ~10 s to be passing.
func (d *Decoder) warnDefaultSidecarChecks(at *yaml.Node, def consuldef.ServiceDef) {
	sc := def.Sidecar()
	if sc == nil {
		return
	}
	checks := sc.Checks
	if sc.Check != nil {
		checks = append(checks, sc.Check)
	}
	for _, c := range checks {
		// An alias check follows a service ID; the name of a service whose
		// instance has another ID matches nothing, and the sidecar stays
		// critical.
		_, isID := d.InstanceByID(c.AliasService)
		if c.AliasService != "" && c.AliasService == def.Reg.Name && def.ID() != def.Reg.Name && !isID {
			d.Warnf(at, "the sidecar of %s has an alias check on %q, the service's name; an alias check follows a service ID, and no instance has ID %q, so the sidecar will stay critical: write alias_service = %q",
				def.ID(), c.AliasService, c.AliasService, def.ID())
		}
	}
	if len(checks) > 0 {
		return
	}
	d.Warnf(at, "the sidecar of %s keeps Consul's default checks (a TCP check every 10s, first run at a random moment), so it may need up to ~10s to be passing; "+
		"give sidecar_service one alias check instead: checks = [{name = \"follows %s\", alias_service = %q}]", def.ID(), def.ID(), def.ID())
}

// warnBuiltinProxyLimits warns about parts of a proxy registration that
// the built-in proxy (consul connect proxy, Consul 1.15.4) ignores, so that
// a scenario relying on them does not pass for the wrong reason. Measured:
// destination_peer resolves to the local service of the same name;
// connect_timeout_ms is never read from a JSON-registered upstream (the
// dial timeout stays 10 s); unix-socket upstreams are refused;
// handshake_timeout_ms is parsed and never used. The proxy reads the same
// registration fields whether Consul made them from
// connect.sidecar_service or they were registered as a service of kind
// connect-proxy, so both are looked at. at is the step's definition: a
// file, or an inline definition, whose key each warning then points at.
func (d *Decoder) warnBuiltinProxyLimits(def consuldef.ServiceDef, at *yaml.Node) {
	if sc := def.Sidecar(); sc != nil && sc.Proxy != nil {
		d.warnProxyConfig(at, def.KeyPath()+".connect.sidecar_service.proxy", def.ID(), def.ID()+"'s sidecar", sc.Proxy)
	}
	if p := def.Reg.Proxy; def.Reg.Kind == api.ServiceKindConnectProxy && p != nil {
		d.warnProxyConfig(at, def.KeyPath()+".proxy", def.ID(), def.ID(), p)
	}
}

// warnProxyConfig warns about one proxy's upstreams (named as owner's)
// and its own config (named as proxy); path is the proxy's key path in
// the definition.
func (d *Decoder) warnProxyConfig(at *yaml.Node, path, owner, proxy string, p *api.AgentServiceConnectProxyConfig) {
	// yamlNodeAt stays at a file's name: a file has no YAML inside.
	key := func(format string, args ...any) *yaml.Node { return yamlNodeAt(at, path+fmt.Sprintf(format, args...)) }
	for i, u := range p.Upstreams {
		name := fmt.Sprintf("%s's upstream %s", owner, u.DestinationName)
		if u.DestinationPeer != "" {
			d.Warnf(key(".upstreams[%d].destination_peer", i), "%s: the built-in proxy ignores destination_peer %q and dials the local cluster's %s instead (peering needs mesh gateways, which need Envoy)", name, u.DestinationPeer, u.DestinationName)
		}
		if _, ok := u.Config["connect_timeout_ms"]; ok {
			d.Warnf(key(".upstreams[%d].config.connect_timeout_ms", i), "%s: %s", name, ignoredConnectTimeout)
		}
		if u.LocalBindSocketPath != "" {
			d.Warnf(key(".upstreams[%d].local_bind_socket_path", i), "%s: the built-in proxy does not support local_bind_socket_path (unix-socket upstreams)", name)
		}
	}
	if _, ok := p.Config["handshake_timeout_ms"]; ok {
		d.Warnf(key(".config.handshake_timeout_ms"), "%s: %s", proxy, ignoredHandshakeTimeout)
	}
}

const (
	ignoredConnectTimeout   = "the built-in proxy ignores connect_timeout_ms; its dial timeout stays 10s"
	ignoredHandshakeTimeout = "the built-in proxy parses handshake_timeout_ms and never uses it"
)

// EntryIgnoredByBuiltinProxy says what of a config entry the built-in
// proxy does not do, each as a sentence; none when it does all of it.
// Measured with Consul 1.15.4: resolver, router and splitter entries are
// ignored, and any intention with permissions (L7) denies. The agent
// hands a proxy what service-defaults' UpstreamConfig sets as each
// upstream's config (ConnectTimeoutMs as connect_timeout_ms) and what
// proxy-defaults' Config sets as its own config (handshake_timeout_ms as
// is), where the built-in proxy ignores them as it does in a
// registration. The entry is the API's type, decoded as consul config
// write decodes it, so HCL blocks, lists, JSON and either spelling of a
// key all arrive here alike.
func EntryIgnoredByBuiltinProxy(entry api.ConfigEntry) []string {
	var why []string
	switch e := entry.(type) {
	case *api.ServiceResolverConfigEntry, *api.ServiceRouterConfigEntry, *api.ServiceSplitterConfigEntry:
		why = append(why, fmt.Sprintf("the built-in proxy ignores %s entries (they are Envoy-only): traffic goes on to the service itself", entry.GetKind()))
	case *api.ServiceIntentionsConfigEntry:
		for _, s := range e.Sources {
			if s != nil && len(s.Permissions) > 0 {
				why = append(why, "the built-in proxy treats any intention with Permissions (L7) as a deny, even one that allows everything")
				break
			}
		}
	case *api.ServiceConfigEntry:
		if u := e.UpstreamConfig; u != nil {
			if u.Defaults != nil && u.Defaults.ConnectTimeoutMs != 0 {
				why = append(why, fmt.Sprintf("UpstreamConfig.Defaults.ConnectTimeoutMs reaches each upstream of %s's proxy as connect_timeout_ms, and %s", e.Name, ignoredConnectTimeout))
			}
			for _, o := range u.Overrides {
				if o != nil && o.ConnectTimeoutMs != 0 {
					why = append(why, fmt.Sprintf("UpstreamConfig.Overrides' ConnectTimeoutMs for %s reaches %s's upstream %s as connect_timeout_ms, and %s", o.Name, e.Name, o.Name, ignoredConnectTimeout))
				}
			}
		}
	case *api.ProxyConfigEntry:
		if _, ok := e.Config["handshake_timeout_ms"]; ok {
			why = append(why, fmt.Sprintf("Config.handshake_timeout_ms reaches every proxy's config, and %s", ignoredHandshakeTimeout))
		}
	}
	return why
}

// WarnUnregistered warns when an intention names a service that no earlier
// step registered: Consul accepts an intention for any name, so a typo
// (wbe -> socat) would otherwise pass silently and test nothing. Against
// an existing cluster (--agent) the services are its own, and nothing is
// said.
func (d *Decoder) WarnUnregistered(intention *yaml.Node, what, source, destination string) {
	if d.External {
		return // the services are the existing cluster's, unknown until it runs
	}
	for _, kv := range [][2]string{{"source", source}, {"destination", destination}} {
		key, name := kv[0], kv[1]
		if name == "" || name == "*" || d.Defined(KindService, name) || d.Defined(KindIdentity, name) {
			continue
		}
		known := d.DefinedNames(KindService)
		msg := fmt.Sprintf("%s.%s: no earlier step registers service %q, so this intention applies to nothing the scenario runs", what, key, name)
		if s := suggest.Closest(name, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.Warnf(childNode(intention, key), "%s", msg)
	}
}

// childNode is the value of key in the mapping n (merge keys applied), or
// n itself when there is none: where to point at key.
func childNode(n *yaml.Node, key string) *yaml.Node {
	for _, kv := range MappingPairs(n) {
		if kv[0].Value == key {
			return Resolve(kv[1])
		}
	}
	return n
}
