package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/runner"
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
	needMesh(t)
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

// A secret astride the 200-byte cut of a failing command's quoted output
// shows in no part in the report, --json or JUnit (it did: 28 of its 36
// characters), nor in the logs the runner writes (exec.log had the whole
// `consul acl token read` output); Consul's own data is a dev agent's, in
// memory. The first acl-token says where secrets are redacted.
func TestCutSecretsShowInNoOutput(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	secretFile, junitFile := filepath.Join(dir, "secret"), filepath.Join(dir, "junit.xml")
	env := []string{"SECRET_OUT=" + secretFile}
	var outputs []string
	var logs string
	for _, format := range [][]string{{"--junit", junitFile}, {"--json"}} {
		out, exit, l := runWithEnv(t, env, append(format, "testdata/e2e/token-cut.yaml")...)
		if exit != 1 || !strings.Contains(out, "token-cut") {
			t.Fatalf("%v: exit %d\n%s", format, exit, out)
		}
		outputs, logs = append(outputs, out), l
	}
	if !strings.Contains(outputs[0], `\"SecretID\": \"[redacted]"... (`) ||
		!strings.Contains(outputs[0], "note: secrets are redacted in the report (text, --json, JUnit, test2json) and in the logs the runner writes") {
		t.Errorf("the cut output or the note is not shown:\n%s", outputs[0])
	}
	data, err := os.ReadFile(junitFile)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(data))
	err = filepath.WalkDir(filepath.Join(logs, "token-cut"), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, err := os.ReadFile(path)
			outputs = append(outputs, path+"\n"+string(data))
			return err
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil || len(secret) != 36 {
		t.Fatalf("the secret: %q, %v", secret, err)
	}
	for _, out := range outputs {
		for i := 0; i+8 <= len(secret); i++ {
			if piece := string(secret[i : i+8]); strings.Contains(out, piece) {
				t.Errorf("%q of the secret is in:\n%s", piece, out)
				break
			}
		}
	}
	if exec, _ := os.ReadFile(filepath.Join(logs, "token-cut", "exec.log")); !strings.Contains(string(exec), `"SecretID": "`+runner.Redacted+`"`) {
		t.Errorf("exec.log does not have the output of the read, redacted:\n%s", exec)
	}
}
