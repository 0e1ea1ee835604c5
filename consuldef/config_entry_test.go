package consuldef

import (
	"errors"
	"testing"

	"github.com/hashicorp/consul/api"
)

// Every spelling of an L7 intention that consul config write accepts
// decodes to the same permissions: HCL blocks (which HCL decodes as a
// list of maps), HCL lists, JSON, snake_case and CamelCase keys.
func TestParseConfigEntryReadsEveryShapeOfIntentions(t *testing.T) {
	for name, src := range map[string]string{
		"hcl blocks": `Kind = "service-intentions"
Name = "socat"
Sources {
  Name = "web"
  Permissions {
    Action = "deny"
    HTTP { PathPrefix = "/admin" }
  }
  Permissions {
    Action = "allow"
    HTTP { PathPrefix = "/" }
  }
}`,
		"hcl lists": `Kind = "service-intentions"
Name = "socat"
Sources = [{
  Name = "web"
  Permissions = [{ Action = "deny", HTTP = { PathPrefix = "/admin" } }, { Action = "allow", HTTP = { PathPrefix = "/" } }]
}]`,
		"hcl snake_case": `kind = "service-intentions"
name = "socat"
sources {
  name = "web"
  permissions { action = "deny", http { path_prefix = "/admin" } }
  permissions { action = "allow", http { path_prefix = "/" } }
}`,
		"json": `{"Kind": "service-intentions", "Name": "socat", "Sources": [{"Name": "web",
  "Permissions": [{"Action": "deny", "HTTP": {"PathPrefix": "/admin"}}, {"Action": "allow", "HTTP": {"PathPrefix": "/"}}]}]}`,
		"json snake_case": `  {"kind": "service-intentions", "name": "socat", "sources": [{"name": "web",
  "permissions": [{"action": "deny", "http": {"path_prefix": "/admin"}}, {"action": "allow", "http": {"path_prefix": "/"}}]}]}`,
	} {
		entry, err := ParseConfigEntry([]byte(src))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		e, ok := entry.(*api.ServiceIntentionsConfigEntry)
		if !ok {
			t.Errorf("%s: decoded as %T", name, entry)
			continue
		}
		if e.Name != "socat" || len(e.Sources) != 1 || e.Sources[0].Name != "web" || len(e.Sources[0].Permissions) != 2 {
			t.Errorf("%s: %+v", name, e)
			continue
		}
		if p := e.Sources[0].Permissions[0]; p.Action != "deny" || p.HTTP == nil || p.HTTP.PathPrefix != "/admin" {
			t.Errorf("%s: first permission %+v", name, p)
		}
	}
}

// UpstreamConfig's connect timeout, in the spellings Consul accepts
// (checked with consul config write and config read, Consul 1.15.4).
func TestParseConfigEntryReadsUpstreamConfig(t *testing.T) {
	for name, c := range map[string]struct {
		src                 string
		defaults, overrides int
	}{
		"hcl blocks":       {`Kind = "service-defaults"` + "\n" + `Name = "web"` + "\n" + `UpstreamConfig { Defaults { ConnectTimeoutMs = 500 } }`, 500, 0},
		"hcl snake_case":   {"kind = \"service-defaults\"\nname = \"web\"\nupstream_config {\n  overrides = [{ name = \"socat\", connect_timeout_ms = 700 }]\n}\n", 0, 700},
		"json snake_case":  {`{"kind": "service-defaults", "name": "web", "upstream_config": {"defaults": {"connect_timeout_ms": 900}}}`, 900, 0},
		"json, a string":   {`{"Kind": "service-defaults", "Name": "web", "UpstreamConfig": {"Overrides": [{"Name": "socat", "ConnectTimeoutMs": "300"}]}}`, 0, 300},
		"no upstream conf": {`Kind = "service-defaults"` + "\n" + `Name = "web"` + "\n" + `Protocol = "tcp"`, 0, 0},
	} {
		entry, err := ParseConfigEntry([]byte(c.src))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		e := entry.(*api.ServiceConfigEntry)
		var defaults, overrides int
		if u := e.UpstreamConfig; u != nil {
			if u.Defaults != nil {
				defaults = u.Defaults.ConnectTimeoutMs
			}
			for _, o := range u.Overrides {
				overrides = o.ConnectTimeoutMs
			}
		}
		if defaults != c.defaults || overrides != c.overrides {
			t.Errorf("%s: defaults %d, overrides %d; want %d, %d", name, defaults, overrides, c.defaults, c.overrides)
		}
	}
}

// The kind is read as Consul reads it: Kind, else kind, and no other
// spelling; with both, Kind wins whatever the order of the keys (a dev
// agent of Consul 1.15.4 stored such an entry as a service-resolver, from
// JSON and from HCL). Asked many times, so that an answer taken from Go's
// map order would show.
func TestEntryKindIsConsuls(t *testing.T) {
	for i := 0; i < 50; i++ {
		both := map[string]any{"Kind": "service-resolver", "kind": "service-defaults", "Name": "socat"}
		if k, err := EntryKind(both); err != nil || k != "service-resolver" {
			t.Fatalf("Kind and kind: %q, %v", k, err)
		}
		entry, err := DecodeConfigEntry(map[string]any{"kind": "service-defaults", "Kind": "service-resolver", "Name": "socat",
			"Redirect": map[string]any{"Service": "socat2"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := entry.(*api.ServiceResolverConfigEntry); !ok || entry.GetName() != "socat" {
			t.Fatalf("decoded as %T %s", entry, entry.GetName())
		}
	}
	if k, err := EntryKind(map[string]any{"kind": "service-router"}); err != nil || k != "service-router" {
		t.Errorf("kind: %q, %v", k, err)
	}
	if _, err := EntryKind(map[string]any{"KIND": "service-router"}); !errors.Is(err, ErrNoKind) {
		t.Errorf("KIND: %v, want ErrNoKind (Consul: payload does not contain a kind/Kind key)", err)
	}
	if _, err := EntryKind(map[string]any{"Kind": 3}); err == nil || errors.Is(err, ErrNoKind) {
		t.Errorf("Kind 3: %v", err)
	}
}

// A key Consul does not know is refused, as consul config write refuses
// it, the same way every time.
func TestDecodeConfigEntryRefusesUnknownKeys(t *testing.T) {
	_, err := DecodeConfigEntry(map[string]any{"Kind": "service-defaults", "Name": "web", "Protocl": "http", "Bogus": 1})
	if err == nil || err.Error() != "invalid config key \"Bogus\"\ninvalid config key \"Protocl\"" {
		t.Errorf("got %v", err)
	}
}
