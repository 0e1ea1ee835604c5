package scenariofile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Warnings about what the built-in proxy ignores, wherever a scenario
// says it: in a proxy registered as a service of its own, in a config
// entry file in HCL block syntax, in an entry with both Kind and kind, in
// service-defaults' UpstreamConfig and in proxy-defaults. Each at the step
// (file:line:col) that says it, at the very key of an inline definition,
// and the same on every run.
func TestBuiltinProxyLimitWarnings(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"l7.hcl": "Kind = \"service-intentions\"\nName = \"socat\"\nSources {\n  Name = \"web\"\n  Permissions {\n    Action = \"deny\"\n    HTTP { PathPrefix = \"/admin\" }\n  }\n  Permissions {\n    Action = \"allow\"\n    HTTP { PathPrefix = \"/\" }\n  }\n}\n",
		"l4.hcl": "Kind = \"service-intentions\"\nName = \"socat\"\nSources {\n  Name = \"web\"\n  Action = \"deny\"\n}\n",
		"sd.hcl": "kind = \"service-defaults\"\nname = \"web\"\nupstream_config {\n  overrides = [{ name = \"socat\", connect_timeout_ms = 700 }]\n}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proxy := `  - register:
      services:
        - {name: web, port: 8080}
        - kind: connect-proxy
          name: web-sidecar-proxy
          port: 21001
          proxy:
            destination_service_name: web
            config: {handshake_timeout_ms: 500}
            upstreams:
              - {destination_name: socat, destination_peer: cluster-02, local_bind_port: 9191}
              - {destination_name: db, local_bind_port: 9192, config: {connect_timeout_ms: 500}}
              - {destination_name: cache, local_bind_socket_path: /tmp/cache.sock}
`
	for _, c := range []struct {
		steps string
		want  []string
	}{
		{proxy, []string{
			`13:43: warning: web-sidecar-proxy's upstream socat: the built-in proxy ignores destination_peer "cluster-02" and dials the local cluster's socat instead (peering needs mesh gateways, which need Envoy)`,
			"14:72: warning: web-sidecar-proxy's upstream db: the built-in proxy ignores connect_timeout_ms; its dial timeout stays 10s",
			"15:43: warning: web-sidecar-proxy's upstream cache: the built-in proxy does not support local_bind_socket_path (unix-socket upstreams)",
			"11:22: warning: web-sidecar-proxy: the built-in proxy parses handshake_timeout_ms and never uses it",
		}},
		{"  - config-entry: l7.hcl\n", []string{
			"3:19: warning: config-entry service-intentions socat: the built-in proxy treats any intention with Permissions (L7) as a deny, even one that allows everything",
		}},
		{"  - config-entry: l4.hcl\n", nil},
		{"  - config-entry: {file: sd.hcl}\n", []string{
			"3:19: warning: config-entry service-defaults web: UpstreamConfig.Overrides' ConnectTimeoutMs for socat reaches web's upstream socat as connect_timeout_ms, and the built-in proxy ignores connect_timeout_ms; its dial timeout stays 10s",
		}},
		{"  - config-entry: {entry: {Kind: service-resolver, kind: service-defaults, Name: socat, Redirect: {Service: socat2}}}\n", []string{
			"3:19: warning: config-entry service-resolver socat: the built-in proxy ignores service-resolver entries (they are Envoy-only): traffic goes on to the service itself",
		}},
		{"  - config-entry: {entry: {Kind: service-defaults, kind: service-resolver, Name: socat, Protocol: tcp}}\n", nil},
		{"  - config-entry:\n      entry:\n        Kind: service-defaults\n        Name: web\n        UpstreamConfig: {Defaults: {ConnectTimeoutMs: 500}}\n", []string{
			"4:7: warning: config-entry service-defaults web: UpstreamConfig.Defaults.ConnectTimeoutMs reaches each upstream of web's proxy as connect_timeout_ms, and the built-in proxy ignores connect_timeout_ms; its dial timeout stays 10s",
		}},
		{"  - config-entry: {entry: {Kind: proxy-defaults, Name: global, Config: {handshake_timeout_ms: 1234}}}\n", []string{
			"3:19: warning: config-entry proxy-defaults global: Config.handshake_timeout_ms reaches every proxy's config, and the built-in proxy parses handshake_timeout_ms and never uses it",
		}},
	} {
		// Several times: an answer that depended on Go's map order would
		// change from one to the next.
		for i := 0; i < 10; i++ {
			sc, errs := parseIn(t, dir, "steps:\n  - start-agent: {}\n"+c.steps)
			if len(errs) > 0 {
				t.Fatalf("%s: %v", c.steps, errs)
			}
			var got []string
			for _, w := range sc.Warnings {
				got = append(got, strings.TrimPrefix(w.Error(), filepath.Join(dir, "s.yaml")+":"))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("%s(run %d)\n got:\n%s\nwant:\n%s", c.steps, i, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		}
	}
}

// config-entry's Kind is read as Consul reads it: Kind or kind, nothing
// else.
func TestConfigEntryKindSpellings(t *testing.T) {
	_, errs := parseIn(t, t.TempDir(), "steps:\n  - start-agent: {}\n  - config-entry: {entry: {KIND: service-defaults, Name: web}}\n")
	want := "3:27: config-entry.entry needs Kind: Consul reads the kind from Kind or kind only, not KIND"
	if len(errs) != 1 || errs[0] != want {
		t.Errorf("got %q, want %q", errs, want)
	}
	if _, errs := parseIn(t, t.TempDir(), "steps:\n  - start-agent: {}\n  - config-entry: {entry: {kind: service-defaults, name: web}}\n"); len(errs) > 0 {
		t.Errorf("kind and name: %v", errs)
	}
}
