package steps

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// warnBuiltinProxyLimits warns about parts of a sidecar registration that
// the built-in proxy (consul connect proxy, Consul 1.15.4) ignores, so that
// a scenario relying on them does not pass for the wrong reason. Measured:
// destination_peer resolves to the local service of the same name;
// connect_timeout_ms is never read from a JSON-registered upstream (the
// dial timeout stays 10 s); unix-socket upstreams are refused;
// handshake_timeout_ms is parsed and never used.
func warnBuiltinProxyLimits(d *spec.Decoder, def consuldef.ServiceDef, at *yaml.Node) {
	for _, u := range def.Upstreams() {
		name := fmt.Sprintf("%s's upstream %s", def.ID(), u.DestinationName)
		if u.DestinationPeer != "" {
			d.Warnf(at, "%s: the built-in proxy ignores destination_peer %q and dials the local cluster's %s instead (peering needs mesh gateways, which need Envoy)", name, u.DestinationPeer, u.DestinationName)
		}
		if _, ok := u.Config["connect_timeout_ms"]; ok {
			d.Warnf(at, "%s: the built-in proxy ignores connect_timeout_ms; its dial timeout stays 10s", name)
		}
		if u.LocalBindSocketPath != "" {
			d.Warnf(at, "%s: the built-in proxy does not support local_bind_socket_path (unix-socket upstreams)", name)
		}
	}
	if sc := def.Sidecar(); sc != nil && sc.Proxy != nil {
		if _, ok := sc.Proxy.Config["handshake_timeout_ms"]; ok {
			d.Warnf(at, "%s's sidecar: the built-in proxy parses handshake_timeout_ms and never uses it", def.ID())
		}
	}
}
