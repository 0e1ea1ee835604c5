package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/scenariofile/spec"
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
		why := strings.Join(spec.EntryIgnoredByBuiltinProxy(entry), "\n")
		if (c.want == "") != (why == "") || !strings.Contains(why, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.src, why, c.want)
		}
	}
}

// consulEnv hands config-entry a consul that records where it ran and
// whether the file it was given is there.
type consulEnv struct {
	*fakeEnv
	bin, dir string
}

func (e *consulEnv) ConsulBinary() (string, error)  { return e.bin, nil }
func (e *consulEnv) Consul() (*api.Client, error)   { return api.NewClient(api.DefaultConfig()) }
func (e *consulEnv) CommandEnv() (string, []string) { return e.dir, nil }

// A config entry file is named relative to the scenario file's folder;
// validation resolves it from the current folder, and consul, which runs
// in the scenario's folder, must still find that same file (not the path
// joined twice).
func TestConfigEntryFileFoundFromTheScenarioFolder(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	if err := os.MkdirAll("adv", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("adv/deny.hcl", []byte("Kind = \"service-intentions\"\nName = \"socat\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "consul")
	// The stand-in fails unless its last argument names a readable file.
	script := "#!/bin/sh\nfor a; do last=$a; done\ntest -r \"$last\" || { echo \"open $last: no such file or directory\"; exit 1; }\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// As validation leaves it for adv/s.yaml run from root: adv/deny.hcl.
	c := &configEntry{file: filepath.Join("adv", "deny.hcl")}
	env := &consulEnv{fakeEnv: &fakeEnv{}, bin: bin, dir: filepath.Join(root, "adv")}
	if err := c.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
}
