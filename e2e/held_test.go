package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
)

// execIn runs `scenario exec` with args and returns its output and exit
// status.
func execIn(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(scenarioBin, append([]string{"exec"}, args...)...)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return string(out), exitErr.ExitCode()
	case err != nil:
		t.Fatalf("scenario exec: %v", err)
	}
	return string(out), 0
}

// up on a scenario with nodes says, per node, its role, address and
// namespace and where its agent answers from the host (a server's UI
// too); each forward reaches that node's own agent; `scenario exec NODE`
// runs a command in the node with its agent as CONSUL_HTTP_ADDR; once up
// has ended, nothing is held.
func TestUpSaysHowToReachEachNodeAndExecRunsThere(t *testing.T) {
	needMesh(t, namespaces)
	src := "name: held-nodes\nnodes: [server, app1]\nsteps:\n" +
		"  - {start-agent: {dev: true}, node: server}\n" +
		"  - {start-agent: {}, node: app1}\n"
	file := writeScenario(t, t.TempDir(), "held-nodes.yaml", src)
	logs := t.TempDir()
	up := exec.Command(scenarioBin, "up", "--logs", logs, "--consul", consulBin, file)
	_, lines := startUntil(t, up, "everything is up", "the mesh never came up")
	var said []string
	for len(said) < 5 && lines.Scan() {
		said = append(said, lines.Text())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	stopped := false
	defer func() {
		if !stopped {
			up.Process.Signal(syscall.SIGINT)
			up.Wait()
		}
	}()
	text := strings.Join(said, "\n")
	forwards := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  node (\S+) \((dev server|client) of dc1\) at 10\.77\.0\.\d+, network namespace (\S+)\n    agent 127\.0\.0\.1:8500 in the node; from here http://(127\.0\.0\.1:\d+)`).FindAllStringSubmatch(text, -1) {
		forwards[m[1]] = m[4]
	}
	if len(forwards) != 2 || !strings.Contains(text, "(UI http://"+forwards["server"]+"/ui/)") ||
		!strings.Contains(text, "run a command there: scenario exec --logs "+logs+" app1 -- consul members") {
		t.Fatalf("up does not say how to reach each node:\n%s", text)
	}
	// Each forward reaches its own node's agent.
	for node, addr := range forwards {
		resp, err := http.Get("http://" + addr + "/v1/agent/self")
		if err != nil {
			t.Fatalf("%s's agent from the host: %v", node, err)
		}
		var self struct{ Config struct{ NodeName string } }
		err = json.NewDecoder(resp.Body).Decode(&self)
		resp.Body.Close()
		if err != nil || self.Config.NodeName != node {
			t.Errorf("the forward of %s reached node %q (%v)", node, self.Config.NodeName, err)
		}
	}
	resp, err := http.Get("http://" + forwards["server"] + "/ui/")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("the server's UI from the host: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	out, code := execIn(t, "--logs", logs, "app1", "--", "consul", "members")
	if code != 0 || !regexp.MustCompile(`(?m)^server\s+10\.77\.0\.\d+:8301\s+alive\s+server`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^app1\s+10\.77\.0\.\d+:8301\s+alive\s+client`).MatchString(out) {
		t.Errorf("exec app1 -- consul members: exit %d:\n%s", code, out)
	}
	// In the node: its own address, its agent, its name.
	out, code = execIn(t, "--logs", logs, "app1", "--", "sh", "-c", `echo "$CONSUL_HTTP_ADDR $SCENARIO_NODE $SCENARIO_NODE_ADDR"; ip -o -4 addr show eth0`)
	if code != 0 || !regexp.MustCompile(`^127\.0\.0\.1:8500 app1 (10\.77\.0\.\d+)\n.* inet (10\.77\.0\.\d+)/`).MatchString(out) {
		t.Errorf("exec app1 -- sh: exit %d:\n%s", code, out)
	}
	if m := regexp.MustCompile(`app1 (\S+)\n.* inet (\S+)/`).FindStringSubmatch(out); m == nil || m[1] != m[2] {
		t.Errorf("the command did not run in app1's namespace:\n%s", out)
	}
	if out, code := execIn(t, "--logs", logs, "app1", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exit status %d, want the command's 7:\n%s", code, out)
	}
	if out, code := execIn(t, "--logs", logs, "nosuch", "--", "true"); code != 2 || !strings.Contains(out, `no held mesh has node "nosuch"; held: held-nodes (nodes: server, app1)`) {
		t.Errorf("an unknown node: exit %d:\n%s", code, out)
	}

	// Another run of the same scenario leaves the held mesh's folder alone.
	again := scenario(t, "run", "--logs", logs, file)
	again.mustExit(t, 2)
	if !strings.Contains(again.stderr, "is that of a mesh scenario up (pid ") {
		t.Errorf("a second run of a held scenario: %s", again.stderr)
	}

	up.Process.Signal(syscall.SIGINT)
	up.Wait()
	stopped = true
	if _, err := os.Stat(filepath.Join(logs, "held-nodes", "held.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("held.json outlives up: %v", err)
	}
	if out, code := execIn(t, "--logs", logs, "app1", "--", "true"); code != 2 || !strings.Contains(out, "no mesh is held under "+logs) {
		t.Errorf("exec after up ended: exit %d:\n%s", code, out)
	}
	// The forwards ended with up.
	client := http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get("http://" + forwards["app1"] + "/v1/agent/self"); err == nil {
		resp.Body.Close()
		t.Errorf("the forward of app1 still answers after up ended")
	}
	assertNothingLeft(t)
}

// up started in a network namespace of its own (unshare --net, as the
// install guide suggests) holds a mesh whose host is that namespace:
// `scenario exec host` runs its command there, where the agent answers,
// not in the caller's namespace.
func TestExecOnTheHostRunsInTheNamespaceUpRunsIn(t *testing.T) {
	needMesh(t, namespaces, testenv.Program("unshare"))
	file := writeScenario(t, t.TempDir(), "held-apart.yaml", "name: held-apart\nsteps:\n  - start-agent: {dev: true}\n")
	logs := t.TempDir()
	up := exec.Command("unshare", "--net", "sh", "-c", `ip link set lo up && exec "$@"`, "sh",
		scenarioBin, "up", "--logs", logs, "--consul", consulBin, file)
	defer holdUp(t, up, "the mesh never came up")()
	out, code := execIn(t, "--logs", logs, "host", "--", "consul", "members")
	if code != 0 || !regexp.MustCompile(`(?m)^\S+\s+127\.0\.0\.1:8301\s+alive\s+server`).MatchString(out) {
		t.Errorf("exec host -- consul members, up in another namespace: exit %d:\n%s", code, out)
	}
	// And this namespace is not where the agent is.
	if out, code := execIn(t, "--logs", logs, "host", "--", "sh", "-c", `readlink /proc/self/ns/net`); code != 0 ||
		strings.TrimSpace(out) != nsOf(t, up.Process.Pid) || nsOf(t, os.Getpid()) == nsOf(t, up.Process.Pid) {
		t.Errorf("the command ran in %q; up's namespace is %s, this test's %s", out, nsOf(t, up.Process.Pid), nsOf(t, os.Getpid()))
	}
}

// holdUp starts up, a `scenario up` command, until it holds its mesh,
// and returns its end: SIGINT, then a check that nothing is left.
func holdUp(t *testing.T, up *exec.Cmd, failure string) (end func()) {
	t.Helper()
	_, lines := startUntil(t, up, "everything is up", failure)
	go func() {
		for lines.Scan() {
		}
	}()
	return func() {
		up.Process.Signal(syscall.SIGINT)
		up.Wait()
		assertNothingLeft(t)
	}
}

func nsOf(t *testing.T, pid int) string {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
