package steps

import (
	"fmt"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

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
func warnBuiltinProxyLimits(d *spec.Decoder, def consuldef.ServiceDef, at *yaml.Node) {
	if sc := def.Sidecar(); sc != nil && sc.Proxy != nil {
		warnProxyConfig(d, at, def.KeyPath()+".connect.sidecar_service.proxy", def.ID(), def.ID()+"'s sidecar", sc.Proxy)
	}
	if p := def.Reg.Proxy; def.Reg.Kind == api.ServiceKindConnectProxy && p != nil {
		warnProxyConfig(d, at, def.KeyPath()+".proxy", def.ID(), def.ID(), p)
	}
}

// warnProxyConfig warns about one proxy's upstreams (named as owner's)
// and its own config (named as proxy); path is the proxy's key path in
// the definition.
func warnProxyConfig(d *spec.Decoder, at *yaml.Node, path, owner, proxy string, p *api.AgentServiceConnectProxyConfig) {
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

// entryIgnoredByBuiltinProxy says what of a config entry the built-in
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
func entryIgnoredByBuiltinProxy(entry api.ConfigEntry) []string {
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
