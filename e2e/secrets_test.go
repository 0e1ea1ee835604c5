package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The management token of the ACL scenarios; wrongToken is no token at all.
const (
	managementToken = "5b7d3f0a-1c2e-4d6f-8a9b-0c1d2e3f4a5b"
	wrongToken      = "00000000-1111-2222-3333-444444444444"
)

// runWithEnv runs the binary with extra variables in its environment.
func runWithEnv(t *testing.T, env []string, args ...string) (out string, exit int, logs string) {
	t.Helper()
	logs = t.TempDir()
	cmd := exec.Command(scenarioBin, append([]string{"run", "--logs", logs, "--consul", consulBin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	data, _ := cmd.CombinedOutput()
	t.Cleanup(func() { assertNothingLeft(t) })
	return string(data), cmd.ProcessState.ExitCode(), logs
}

// The caller's CONSUL_HTTP_TOKEN_FILE wins over CONSUL_HTTP_TOKEN in
// Consul's CLI: a sidecar given api's token ran as the management token a
// caller's file held, and a scenario claiming web's sidecar carries
// traffic with api's token passed. The runner's processes and its own
// client must not see the caller's Consul variables: the false claim
// fails, and the library's acl-service-identities passes whether the file
// holds the management token or a wrong one (and with a namespace, a CA
// file and basic auth in the environment that the dev agent has nothing
// to do with).
func TestCallersConsulVariablesDoNotDecide(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for name, token := range map[string]string{"management": managementToken, "wrong": wrongToken} {
		files[name] = filepath.Join(dir, name)
		if err := os.WriteFile(files[name], []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	callers := []string{"CONSUL_NAMESPACE=team", "CONSUL_PARTITION=part", "CONSUL_CACERT=" + filepath.Join(dir, "missing-ca.pem"),
		"CONSUL_HTTP_AUTH=user:pass", "CONSUL_HTTP_ADDR=192.0.2.1:8500", "CONSUL_HTTP_SSL=true"}

	out, exit, _ := runWithEnv(t, append(callers, "CONSUL_HTTP_TOKEN_FILE="+files["management"]),
		"testdata/e2e/sidecar-with-another-token.yaml", "scenarios/acl-service-identities.yaml")
	if exit != 1 || !strings.Contains(out, "--- FAIL sidecar-with-another-token: step 9 (sidecar web's sidecar runs with api's token)") ||
		!strings.Contains(out, "ok    4 exec             commands as the runner chose") ||
		!strings.Contains(out, "--- PASS acl-service-identities") {
		t.Errorf("with the management token in CONSUL_HTTP_TOKEN_FILE: exit %d\n%s", exit, out)
	}
	if strings.Contains(out, managementToken[:8]) {
		t.Errorf("the management token was printed:\n%s", out)
	}

	out, exit, _ = runWithEnv(t, append(callers, "CONSUL_HTTP_TOKEN_FILE="+files["wrong"]), "scenarios/acl-service-identities.yaml")
	if exit != 0 || !strings.Contains(out, "--- PASS acl-service-identities") {
		t.Errorf("with a wrong token in CONSUL_HTTP_TOKEN_FILE: exit %d\n%s", exit, out)
	}
}
