package steps

import (
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/consuldef"
)

// What the built-in proxy ignores is found in every shape Consul reads an
// entry in: HCL blocks (a list of maps), HCL lists, JSON, either spelling
// of a key.
func TestEntryIgnoredByBuiltinProxyInEveryShape(t *testing.T) {
	const l7 = "treats any intention with Permissions (L7) as a deny"
	for _, c := range []struct{ src, want string }{
		{"Kind = \"service-intentions\"\nName = \"socat\"\nSources {\n  Name = \"web\"\n  Permissions {\n    Action = \"deny\"\n    HTTP { PathPrefix = \"/admin\" }\n  }\n}\n", l7},
		{"Kind = \"service-intentions\"\nName = \"socat\"\nSources = [{ Name = \"web\", Permissions = [{ Action = \"allow\", HTTP = { PathPrefix = \"/\" } }] }]\n", l7},
		{"kind = \"service-intentions\"\nname = \"socat\"\nsources { name = \"web\"\n permissions { action = \"allow\"\n http { path_prefix = \"/\" } } }\n", l7},
		{`{"Kind": "service-intentions", "Name": "socat", "Sources": [{"Name": "web", "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/"}}]}]}`, l7},
		{`{"Kind": "service-intentions", "Name": "socat", "Sources": [{"Name": "web", "Action": "allow"}]}`, ""},
		{"Kind = \"service-intentions\"\nName = \"socat\"\nSources { Name = \"web\"\n Action = \"deny\" }\n", ""},
		{"Kind = \"service-resolver\"\nName = \"socat\"\nRedirect { Service = \"socat2\" }\n", "ignores service-resolver entries"},
		{`{"kind": "service-router", "name": "socat", "routes": [{"match": {"http": {"path_prefix": "/a"}}, "destination": {"service": "b"}}]}`, "ignores service-router entries"},
		{"Kind = \"service-splitter\"\nName = \"socat\"\nSplits { Weight = 100 }\n", "ignores service-splitter entries"},
		{"Kind = \"service-defaults\"\nName = \"web\"\nUpstreamConfig { Defaults { ConnectTimeoutMs = 500 } }\n", "UpstreamConfig.Defaults.ConnectTimeoutMs reaches each upstream of web's proxy as connect_timeout_ms, and the built-in proxy ignores connect_timeout_ms"},
		{"kind = \"service-defaults\"\nname = \"web\"\nupstream_config { overrides = [{ name = \"socat\", connect_timeout_ms = 700 }] }\n", "ConnectTimeoutMs for socat reaches web's upstream socat as connect_timeout_ms"},
		{`{"kind": "service-defaults", "name": "web", "upstream_config": {"defaults": {"connect_timeout_ms": 900}}}`, "ignores connect_timeout_ms"},
		{"Kind = \"service-defaults\"\nName = \"web\"\nProtocol = \"http\"\nUpstreamConfig { Defaults { Protocol = \"http\" } }\n", ""},
		{"Kind = \"proxy-defaults\"\nName = \"global\"\nConfig { handshake_timeout_ms = 1234 }\n", "Config.handshake_timeout_ms reaches every proxy's config, and the built-in proxy parses handshake_timeout_ms and never uses it"},
		{"Kind = \"proxy-defaults\"\nName = \"global\"\nConfig { protocol = \"http\" }\n", ""},
	} {
		entry, err := consuldef.ParseConfigEntry([]byte(c.src))
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		why := strings.Join(entryIgnoredByBuiltinProxy(entry), "\n")
		if (c.want == "") != (why == "") || !strings.Contains(why, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.src, why, c.want)
		}
	}
}
