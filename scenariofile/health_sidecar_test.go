package scenariofile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sidecar registered with its service (connect.sidecar_service) is a
// service of the catalog, by the ID and name Consul gives it, so expect
// health takes either; a name no registration gives is still refused.
func TestExpectHealthTakesARegisteredSidecarsServiceIDAndName(t *testing.T) {
	dir := writeFixtures(t)
	src := prelude +
		"  - expect: {health: socat-sidecar-proxy, status: passing}\n" +
		"  - expect: {health: web-sidecar-proxy, status: passing}\n"
	path := filepath.Join(dir, "health.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(path); err != nil {
		t.Errorf("a registered sidecar's service refused: %v", err)
	}
	if err := os.WriteFile(path, []byte(prelude+"  - expect: {health: api-sidecar-proxy, status: passing}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(path); err == nil || !strings.Contains(err.Error(), `6:22: no earlier step registered service "api-sidecar-proxy"`) {
		t.Errorf("an unregistered sidecar's service: %v", err)
	}
}
