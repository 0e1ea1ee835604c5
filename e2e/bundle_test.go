package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A failed scenario leaves logs/<scenario>/bundle/, gathered before
// teardown: for every agent, the catalog and health, the intentions, every
// config entry, each proxy's registration, the CA roots, consul members
// and the agent's log. Under ACLs with a default deny it is read with the
// management token (an anonymous read of the catalog would be empty) and
// the token appears nowhere in it. Across nodes it has a folder per node,
// and holds the wire's capture as pcap.
func TestFailedScenarioLeavesADebugBundle(t *testing.T) {
	needMesh(t, namespaces)
	const token = "0c1d7c6e-5b5a-4b7e-9d55-8f4e3f6a2b10"
	r := scenario(t, "run", "testdata/e2e/bundle-acl.yaml", "testdata/e2e/bundle-nodes.yaml")
	r.mustExit(t, 1)
	for _, name := range []string{"bundle-acl", "bundle-nodes"} {
		if !strings.Contains(r.stdout, "debug bundle: "+filepath.Join(r.logs, name, "bundle")) {
			t.Errorf("the report does not name %s's bundle:\n%s", name, r.stdout)
		}
	}

	acl := filepath.Join(r.logs, "bundle-acl", "bundle")
	host := filepath.Join(acl, "host")
	read := func(path string) string {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("the bundle lacks %s: %v", path, err)
		}
		return string(data)
	}
	asJSON := func(path string, into any) {
		t.Helper()
		if err := json.Unmarshal([]byte(read(path)), into); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	var services map[string][]string
	asJSON(filepath.Join(host, "catalog-services.json"), &services)
	for _, svc := range []string{"socat", "web", "socat-sidecar-proxy", "web-sidecar-proxy"} {
		if _, ok := services[svc]; !ok {
			t.Errorf("the catalog in the bundle lacks %s (read without the management token?): %v", svc, services)
		}
	}
	var health []struct{ ServiceName, Status string }
	asJSON(filepath.Join(host, "health.json"), &health)
	if len(health) < 3 {
		t.Errorf("health: %+v", health)
	}
	var intentions []struct{ SourceName, DestinationName, Action string }
	asJSON(filepath.Join(host, "intentions.json"), &intentions)
	if len(intentions) != 1 || intentions[0].SourceName != "web" || intentions[0].Action != "allow" {
		t.Errorf("intentions: %+v", intentions)
	}
	var entries map[string][]struct{ Kind, Name, Protocol string }
	asJSON(filepath.Join(host, "config-entries.json"), &entries)
	if d := entries["service-defaults"]; len(d) != 1 || d[0].Name != "socat" || d[0].Protocol != "tcp" {
		t.Errorf("service-defaults: %+v", entries["service-defaults"])
	}
	if len(entries["service-intentions"]) != 1 {
		t.Errorf("service-intentions: %+v", entries["service-intentions"])
	}
	for _, id := range []string{"socat-sidecar-proxy", "web-sidecar-proxy"} {
		var proxy struct {
			Kind, ID string
			Proxy    struct{ DestinationServiceName string }
		}
		asJSON(filepath.Join(host, "proxies", id+".json"), &proxy)
		if proxy.Kind != "connect-proxy" || proxy.ID != id || proxy.Proxy.DestinationServiceName == "" {
			t.Errorf("proxy %s: %+v", id, proxy)
		}
	}
	var roots struct {
		ActiveRootID string
		Roots        []struct{ RootCert string }
	}
	asJSON(filepath.Join(host, "ca-roots.json"), &roots)
	if roots.ActiveRootID == "" || len(roots.Roots) == 0 || !strings.Contains(roots.Roots[0].RootCert, "BEGIN CERTIFICATE") {
		t.Errorf("CA roots: %+v", roots)
	}
	if m := read(filepath.Join(host, "members.txt")); !strings.Contains(m, "alive") || !strings.Contains(m, "server") {
		t.Errorf("consul members:\n%s", m)
	}
	if l := read(filepath.Join(host, "agent.log")); !strings.Contains(l, "consul agent") || !strings.Contains(l, "[redacted]") {
		t.Errorf("the agent's log in the bundle lacks its start or its redaction:\n%.500s", l)
	}
	_ = filepath.Walk(acl, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(read(path), token) {
			t.Errorf("%s holds the management token", path)
		}
		return nil
	})

	nodes := filepath.Join(r.logs, "bundle-nodes", "bundle")
	for _, node := range []string{"server", "app1", "app2"} {
		for _, f := range []string{"catalog-nodes.json", "health.json", "intentions.json", "config-entries.json", "ca-roots.json", "members.txt", "agent.log"} {
			if st, err := os.Stat(filepath.Join(nodes, node, f)); err != nil || st.Size() == 0 {
				t.Errorf("node %s: %s missing or empty (%v)", node, f, err)
			}
		}
	}
	if m := read(filepath.Join(nodes, "app1", "members.txt")); strings.Count(m, "alive") != 3 {
		t.Errorf("app1 sees not all three members alive:\n%s", m)
	}
	for node, proxy := range map[string]string{"app1": "web-sidecar-proxy", "app2": "socat-sidecar-proxy"} {
		if _, err := os.Stat(filepath.Join(nodes, node, "proxies", proxy+".json")); err != nil {
			t.Errorf("node %s: its proxy's registration: %v", node, err)
		}
	}
	if readme := read(filepath.Join(nodes, "README.txt")); !strings.Contains(readme, "wire-step-09.pcap") {
		t.Errorf("the bundle does not account for step 9's capture:\n%s", readme)
	}
	// A pcap file starts with the nanosecond-resolution magic, little-endian.
	if pcap := read(filepath.Join(nodes, "wire-step-09.pcap")); len(pcap) <= 24 || pcap[:4] != "\x4d\x3c\xb2\xa1" {
		t.Errorf("wire-step-09.pcap is not a capture with frames (%d bytes)", len(pcap))
	}
}
