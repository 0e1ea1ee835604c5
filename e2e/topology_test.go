package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/topology"
	"github.com/scenario-tool/scenario/wait"
)

// Adversarial tests of topologies (issue 11): each claim a topology
// scenario can make is made while it is false, and the run must fail at
// that step, naming the cause; everything a topology run creates
// (namespaces under /run/netns, processes) must be gone afterwards,
// however the runner ended.

// topoMesh is the demo's mesh on two nodes, steps 1-7: app2 runs the dev
// server, app1 a client with web and its sidecar; socat and its sidecar
// run on socatNode. The nodes' addresses are fixed by the order of
// `nodes`: app1 10.77.0.1, app2 10.77.0.2.
func topoMesh(socatNode string) string {
	return fmt.Sprintf(`nodes: [app1, app2]
steps:
  - {start-agent: {dev: true}, node: app2}
  - {start-agent: {}, node: app1}
  - run: {name: socat, command: "socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat", ready: "127.0.0.1:8181"}
    node: %[2]s
  - {register: %[1]s/consul.d/socat.json, node: %[2]s}
  - {register: %[1]s/consul.d/web.json, node: app1}
  - {sidecar: socat, node: %[2]s}
  - {sidecar: web, node: app1}
`, repoRoot, socatNode)
}

const app2Addr = "10.77.0.2" // topoMesh's app2

// plainEcho is an echo on app2's own address: reachable from app1
// without the mesh.
const plainEcho = `  - run: {name: plain-echo, command: "socat TCP-LISTEN:8282,bind=$SCENARIO_NODE_ADDR,reuseaddr,fork EXEC:cat", ready: "app2:8282"}
    node: app2
`

// topoSlots bounds the topology runs at once: each runs two agents, and
// the machine has two cores shared with other suites.
var topoSlots = make(chan struct{}, 2)

func topoSlot(t *testing.T) {
	topoSlots <- struct{}{}
	t.Cleanup(func() { <-topoSlots })
}

// topoResult is a finished topology run (--json).
type topoResult struct {
	exit     int
	events   []runner.Event
	failed   *runner.StepEvent
	prefixes []string // of the namespaces of each scenario's network
	out      string
	took     time.Duration
}

var topoSeq atomic.Int64

// runTopo runs files with --json (and extra flags), marking its
// processes, and checks afterwards that nothing of the run is left: no
// process carrying the mark, no namespace with the run's prefixes.
func runTopo(t *testing.T, extra []string, files ...string) topoResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mark := fmt.Sprintf("SCENARIO_TOPO_CASE=%d-%d", os.Getpid(), topoSeq.Add(1))
	args := append([]string{"run", "--json", "--logs", filepath.Join(t.TempDir(), "logs"), "--consul", consulBin}, extra...)
	cmd := exec.CommandContext(ctx, scenarioBin, append(args, files...)...)
	cmd.Env = append(os.Environ(), mark)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := topoResult{took: time.Since(start), out: stdout.String() + stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.exit = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running scenario: %v\n%s", err, r.out)
	}
	r.parse(stdout.Bytes())
	assertTopoGone(t, mark, r.prefixes, 0)
	return r
}

func (r *topoResult) parse(out []byte) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev runner.Event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		r.events = append(r.events, ev)
		if p := prefixOf(ev); p != "" {
			r.prefixes = append(r.prefixes, p)
		}
		if ev.Event == "step-end" && ev.Step.Outcome == runner.OutcomeFailed && r.failed == nil {
			r.failed = ev.Step
		}
	}
}

// prefixOf is the namespace prefix a network event announces ("" for
// any other event).
func prefixOf(ev runner.Event) string {
	if ev.Event != "network" || len(ev.Nodes) == 0 {
		return ""
	}
	return strings.TrimSuffix(ev.Nodes[0].Namespace, ev.Nodes[0].Name)
}

// assertTopoGone fails unless, within grace, no live process carries mark
// and no namespace under /run/netns starts with one of prefixes. It
// returns how long that took.
func assertTopoGone(t *testing.T, mark string, prefixes []string, grace time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	gone := wait.Func("the run's processes and namespaces gone", func(context.Context) error {
		if procs, names := liveMarked(mark), namespacesWith(prefixes); len(procs)+len(names) > 0 {
			return fmt.Errorf("%d processes, %d namespaces left", len(procs), len(names))
		}
		return nil
	})
	if wait.For(context.Background(), gone, wait.Options{Timeout: grace, MaxInterval: 20 * time.Millisecond}) == nil {
		return time.Since(start)
	}
	procs, names := liveMarked(mark), namespacesWith(prefixes)
	t.Errorf("left behind after %s:\nprocesses: %s\nnamespaces: %s", grace, strings.Join(procs, "\n"), strings.Join(names, " "))
	for _, l := range procs {
		var pid int
		fmt.Sscanf(l, "%d", &pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, n := range names {
		_ = exec.Command("ip", "netns", "del", n).Run()
	}
	return time.Since(start)
}

func namespacesWith(prefixes []string) []string {
	entries, _ := os.ReadDir(topology.RunDir)
	var found []string
	for _, e := range entries {
		for _, p := range prefixes {
			if strings.HasPrefix(e.Name(), p) {
				found = append(found, e.Name())
			}
		}
	}
	return found
}

// topoFailsAt runs src as the topology scenario name, in a slot, and
// returns its failed step: the run must fail at step failAt (1-based) with
// an error holding each of wants, or the claim passed falsely.
func topoFailsAt(t *testing.T, name, src string, failAt int, wants ...string) *runner.StepEvent {
	t.Helper()
	topoSlot(t)
	r := runTopo(t, nil, writeTopo(t, name, src))
	t.Logf("ran in %s", r.took.Round(100*time.Millisecond))
	if r.exit != 1 || r.failed == nil {
		t.Fatalf("FALSE PASS: exit %d, want 1 with a failed step\n%s", r.exit, r.out)
	}
	t.Logf("step %d failed: %s", r.failed.Index, r.failed.Error)
	lacks := slices.IndexFunc(wants, func(w string) bool { return !strings.Contains(r.failed.Error, w) })
	if r.failed.Index != failAt || lacks >= 0 {
		t.Fatalf("failed at step %d (%s), want step %d with %q:\n%s", r.failed.Index, r.failed.Label, failAt, wants, r.failed.Error)
	}
	return r.failed
}

func writeTopo(t *testing.T, name, src string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte("name: "+name+"\n"+src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// tlsCert writes a self-signed certificate and its key for socat's
// OPENSSL addresses: TLS that is not the mesh's.
func tlsCert(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not-the-mesh"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	both := append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	path := filepath.Join(t.TempDir(), "both.pem")
	if err := os.WriteFile(path, both, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A claim made on nodes while it is false fails at its step, naming
// why: wire evidence above all. The unbroken claims pass in
// TestTopologyParallelRunsDoNotCollide.
func TestTopologyFalseClaimsFail(t *testing.T) {
	needMesh(t, namespaces)
	certFile := tlsCert(t)
	// A TLS server of socat's, with a certificate no Consul CA signed, on
	// app2's address: TLS between nodes that is not the mesh.
	tlsFront := func(to string) string {
		return fmt.Sprintf(`  - run: {name: tls-front, command: "socat OPENSSL-LISTEN:4433,bind=$SCENARIO_NODE_ADDR,reuseaddr,fork,cert=%s,verify=0 %s", ready: "app2:4433"}
    node: app2
`, certFile, to)
	}
	cases := []struct {
		name   string
		src    string
		failAt int
		want   string
		also   func(t *testing.T, failed *runner.StepEvent)
	}{
		{
			name: "plain echo across nodes claimed encrypted",
			src: topoMesh("app2") + plainEcho +
				"  - {expect: {to: \"app2:8282\", send: \"hello\\n\", reply: \"hello\\n\", wire: encrypted}, node: app1}\n",
			failAt: 9, want: `with the probe's bytes in clear (to the server, at byte 0)`,
		},
		{
			name:   "mesh path claimed plaintext",
			src:    topoMesh("app2") + "  - expect: {to: web/socat, send: \"hello\\n\", reply: \"hello\\n\", wire: plaintext}\n",
			failAt: 8, want: `wire: expected "hello\n" to cross between nodes in clear, but it did not`,
			// Failure evidence names the node of each log.
			also: func(t *testing.T, failed *runner.StepEvent) {
				var paths []string
				for _, l := range failed.Logs {
					paths = append(paths, l.Path)
				}
				for _, want := range []string{"/app2/sidecar-socat.log", "/app1/sidecar-web.log"} {
					found := false
					for _, p := range paths {
						found = found || strings.HasSuffix(p, want)
					}
					if !found {
						t.Errorf("the failure's logs %v do not include %s", paths, want)
					}
				}
			},
		},
		{
			name:   "both services on one node",
			src:    topoMesh("app1") + "  - expect: {to: web/socat, send: \"hello\\n\", reply: \"hello\\n\", wire: encrypted}\n",
			failAt: 8, want: "so it crossed no cable; the catalog has a Connect sidecar of socat only on node app1",
		},
		{
			name: "a plain relay across nodes in place of web's sidecar",
			src: strings.Replace(topoMesh("app2"), "  - {sidecar: web, node: app1}\n",
				"  - run: {name: relay, command: \"socat TCP-LISTEN:9191,bind=127.0.0.1,reuseaddr,fork TCP:"+app2Addr+":8282\", ready: \"127.0.0.1:9191\"}\n    node: app1\n", 1) +
				plainEcho + "  - expect: {to: web/socat, send: \"hello\\n\", reply: \"hello\\n\", wire: encrypted}\n",
			// Asked of app1's agent, where web is registered (the first
			// agent, app2's, does not know web, and said so).
			failAt: 9, want: "no sidecar of web runs in this scenario",
		},
		{
			// TLS records only, across nodes: but a tunnel of socat's, not
			// the mesh, carried the probe.
			name: "a TLS tunnel that is not the mesh",
			src: topoMesh("app2") + tlsFront("TCP:127.0.0.1:8181") +
				"  - run: {name: tls-back, command: \"socat TCP-LISTEN:9393,bind=127.0.0.1,reuseaddr,fork OPENSSL:" + app2Addr + ":4433,verify=0\", ready: \"127.0.0.1:9393\"}\n    node: app1\n" +
				"  - {expect: {to: \"127.0.0.1:9393\", send: \"hello\\n\", reply: \"hello\\n\", wire: encrypted}, node: app1}\n",
			failAt: 10, want: "the probe dials 127.0.0.1:9393 on node app1, held by app1/tls-back (pid ",
		},
		{
			// The probe stays on app1, while a TLS connection of someone
			// else's crosses between the nodes during the capture.
			name: "a local probe while other TLS crosses",
			src: topoMesh("app1") + tlsFront("EXEC:cat") +
				"  - run: {name: decoy, command: \"while :; do echo decoy; sleep 0.01; done | socat - OPENSSL:" + app2Addr + ":4433,verify=0\"}\n    node: app1\n" +
				"  - exec: {command: \"for i in $(seq 200); do ss -Htn state established '( dport = :4433 )' | grep -q . && exit 0; sleep 0.05; done; exit 1\"}\n    node: app1\n" +
				"  - expect: {to: web/socat, send: \"hello\\n\", reply: \"hello\\n\", wire: encrypted}\n",
			// Whether the decoy's bytes fall in the capture's window depends
			// on the machine's load; either way no connection of the probe's
			// sidecar to a sidecar carried the probe.
			failAt: 11, want: "the probe was answered on node app1 itself",
		},
		{
			// TLS to socat's own sidecar on app2 crosses from app1 while the
			// probe is answered on app1 (app2's instance is critical): it
			// is not the probe's, for web's sidecar did not hold it.
			name: "a local probe while other TLS to the destination's sidecar crosses",
			src: strings.Replace(topoMesh("app1"), "  - {sidecar: socat, node: app1}\n",
				"  - {sidecar: socat, node: app1}\n"+
					"  - run: {name: socat, command: \"socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork SYSTEM:'sed -u s/^/far-/'\", ready: \"127.0.0.1:8181\"}\n    node: app2\n"+
					"  - {register: "+repoRoot+"/scenarios/defs/socat-ttl.hcl, node: app2}\n"+
					"  - {sidecar: socat, node: app2}\n"+
					"  - {check: {id: ttl-socat, status: critical}, node: app2}\n", 1) +
				"  - run: {name: decoy, command: \"while :; do socat -T1 /dev/null OPENSSL:" + app2Addr + ":21000,verify=0; sleep 0.01; done\"}\n    node: app1\n" +
				// Until the critical instance is out of web's picks.
				"  - expect: {to: web/socat, send: \"x\\n\", reply: \"x\\n\", others-allowed: true, times: 10, within: 20s}\n" +
				"  - expect: {to: web/socat, send: \"hello\\n\", reply: \"hello\\n\", wire: encrypted, times: 3}\n",
			failAt: 14, want: "the probe was answered on node app1 itself: sidecar/web's connection for the probe went to 10.77.0.1:21000 (socat's sidecar on node app1)",
		},
		{
			// The listener is in the node's socket table, not the runner's.
			name: "a wildcard listener on a node claimed loopback-only",
			src: "nodes: [app1]\nsteps:\n" +
				"  - run: {name: wide, command: \"socat TCP-LISTEN:8282,bind=0.0.0.0,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:8282\"}\n    node: app1\n" +
				"  - expect: {loopback-only: wide}\n",
			failAt: 2, want: "wide listens beyond loopback on 0.0.0.0:8282",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			failed := topoFailsAt(t, "wire", c.src, c.failAt, c.want)
			// The evidence is shown whole: "encrypted: 34 frames" once
			// looked like a secret named encrypt... to the redactor.
			if strings.Contains(failed.Error, "[redacted]") {
				t.Errorf("the evidence is redacted:\n%s", failed.Error)
			}
			if c.also != nil {
				c.also(t, failed)
			}
		})
	}
}

// Two topology scenarios run side by side: both pass, in networks with
// distinct namespace prefixes, and nothing of either is left. Their
// steps are the unbroken claims: the mesh path is encrypted on the wire,
// a plain echo across nodes is in clear, socat on app2 listens on
// loopback only and its sidecar presents socat's certificate (both judged
// on app2, where they run), and `stop: agent` stops the
// agent of the node it names only.
func TestTopologyParallelRunsDoNotCollide(t *testing.T) {
	needMesh(t, namespaces)
	t.Parallel()
	topoSlot(t)
	topoSlot(t) // two runs
	claims := "  - expect: {to: web/socat, send: \"hello\\n\", reply: \"hello\\n\", wire: encrypted}\n" + plainEcho +
		"  - {expect: {to: \"app2:8282\", send: \"hello\\n\", reply: \"hello\\n\", wire: plaintext}, node: app1}\n"
	a := writeTopo(t, "topo-a", topoMesh("app2")+claims)
	b := writeTopo(t, "topo-b", topoMesh("app2")+claims+
		// Judged on the node where each runs (the items name none).
		"  - expect: {loopback-only: socat}\n"+
		"  - expect: {cert: socat}\n"+
		"  - {stop: agent, node: app1}\n"+
		// Asked of app2's agent, which must still run: app1's left.
		"  - {exec: {command: \"consul members\", stdout: \"app1 +10.77.0.1:8301 +left\"}, node: app2}\n")
	r := runTopo(t, []string{"--parallel", "2"}, a, b)
	t.Logf("two topology scenarios with --parallel 2 in %s", r.took.Round(100*time.Millisecond))
	if r.exit != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.exit, r.out)
	}
	passed := 0
	for _, ev := range r.events {
		if ev.Event == "scenario-end" && ev.Outcome == runner.OutcomePassed {
			passed++
		}
	}
	if passed != 2 {
		t.Errorf("%d scenarios passed, want 2\n%s", passed, r.out)
	}
	if len(r.prefixes) != 2 || r.prefixes[0] == r.prefixes[1] {
		t.Errorf("namespace prefixes %q: want two distinct ones", r.prefixes)
	}
}

// A runner killed in the middle of a topology scenario leaves nothing:
// its reaper kills the processes and removes the namespaces within
// seconds. SIGINT cleans up as usual and exits 130.
func TestTopologyRunnerDeathLeavesNoNamespace(t *testing.T) {
	needMesh(t, namespaces)
	// A probe that never holds (others-allowed keeps it trying).
	probe := "  - expect: {to: web/socat, send: \"x\\n\", reply: \"never\\n\", others-allowed: true, within: 5m}\n"
	cases := []struct {
		name   string
		signal syscall.Signal
		src    string
		step   int
		busy   string // a process that runs once the step is under way
	}{
		{name: "SIGKILL during start-agent", signal: syscall.SIGKILL, src: topoMesh("app2") + probe, step: 1, busy: "agent -node app"},
		{name: "SIGKILL during a probe", signal: syscall.SIGKILL, src: topoMesh("app2") + probe, step: 8},
		{name: "SIGKILL while a node is cut off", signal: syscall.SIGKILL, src: topoMesh("app2") + "  - disconnect: app1\n" + probe, step: 9},
		{name: "SIGINT while a node is cut off", signal: syscall.SIGINT, src: topoMesh("app2") + "  - disconnect: app1\n" + probe, step: 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			topoSlot(t)
			file := writeTopo(t, "topo-death", c.src)
			mark := fmt.Sprintf("SCENARIO_TOPO_CASE=%d-%d", os.Getpid(), topoSeq.Add(1))
			cmd := exec.Command(scenarioBin, "run", "--json", "--logs", filepath.Join(t.TempDir(), "logs"), "--consul", consulBin, file)
			cmd.Env = append(os.Environ(), mark)
			run := startRunner(t, cmd)
			prefix := ""
			deadline := time.After(2 * time.Minute)
		reading:
			for {
				select {
				case line, ok := <-run.lines:
					if !ok {
						t.Fatalf("the run ended before step %d:\n%s", c.step, run.stderr.String())
					}
					var ev runner.Event
					if json.Unmarshal([]byte(line), &ev) != nil {
						continue
					}
					if p := prefixOf(ev); p != "" {
						prefix = p
					}
					if ev.Event == "step-end" && ev.Step.Outcome == runner.OutcomeFailed {
						t.Fatalf("step %d failed: %s", ev.Step.Index, ev.Step.Error)
					}
					if ev.Event == "step-start" && ev.Step.Index == c.step {
						break reading
					}
				case <-deadline:
					t.Fatalf("step %d never started:\n%s", c.step, run.stderr.String())
				}
			}
			if prefix == "" || len(namespacesWith([]string{prefix})) == 0 {
				t.Fatalf("the run's namespaces (prefix %q) are not there while it runs", prefix)
			}
			if c.busy != "" {
				run.waitProcess(t, mark, c.busy)
			}
			killed := time.Now()
			if err := cmd.Process.Signal(c.signal); err != nil {
				t.Fatal(err)
			}
			state := run.wait(t, 30*time.Second)
			ws := state.Sys().(syscall.WaitStatus)
			switch {
			case c.signal == syscall.SIGKILL && (!ws.Signaled() || ws.Signal() != syscall.SIGKILL):
				t.Errorf("exit: %v, want killed", state)
			case c.signal == syscall.SIGINT && state.ExitCode() != 130:
				t.Errorf("exit: %v, want status 130\n%s", state, run.stderr.String())
			}
			// The runner's exit is seen once its reaper, which shares its
			// stderr, has ended too: usually nothing is left by then.
			assertTopoGone(t, mark, []string{prefix}, 10*time.Second)
			t.Logf("%s: nothing left %s after the signal", c.name, time.Since(killed).Round(10*time.Millisecond))
		})
	}
}

// Without the privileges namespaces need, a topology scenario is
// reported NOT RUNNABLE with the reason (never a pass), the exit status
// says not everything passed, and a host scenario given beside it runs.
func TestTopologyNotRunnableWithoutPrivileges(t *testing.T) {
	testenv.Need(t, consul)
	// As root, the runner runs as nobody; otherwise as this unprivileged
	// user, which is the case itself.
	const nobody = 65534
	asRoot := os.Geteuid() == 0
	uid := os.Geteuid()
	if asRoot {
		uid = nobody
	}
	// Everything the unprivileged runner reads must be readable by it.
	dir, err := os.MkdirTemp("", "scenario-unprivileged")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "scenario")
	data, err := os.ReadFile(scenarioBin)
	if err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "topo.yaml")
	host := filepath.Join(dir, "host.yaml")
	logs := filepath.Join(dir, "logs")
	for _, f := range []struct {
		path string
		data string
		mode os.FileMode
	}{
		{bin, string(data), 0o755},
		{topo, "name: topo\nnodes: [server, app1]\nsteps:\n  - {start-agent: {dev: true}, node: server}\n  - {start-agent: {}, node: app1}\n", 0o644},
		{host, "name: host\nsteps:\n  - exec: {command: \"true\"}\n", 0o644},
	} {
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if asRoot {
		if err := os.Chown(logs, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--json", "--logs", logs, "--consul", consulBin, topo, host)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+logs, "XDG_CACHE_HOME="+logs)
	if asRoot {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Errorf("exit: %v, want status 1 (not everything passed)\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var r topoResult
	r.parse(stdout.Bytes())
	outcomes := map[string]runner.Event{}
	for _, ev := range r.events {
		if ev.Event == "scenario-end" {
			outcomes[ev.Scenario] = ev
		}
	}
	if ev := outcomes["topo"]; ev.Outcome != runner.OutcomeNotRunnable || !strings.Contains(ev.Error, "CAP_NET_ADMIN") || !strings.Contains(ev.Error, fmt.Sprintf("uid %d", uid)) {
		t.Errorf("the topology scenario ended %q (%s), want %q naming the missing capability\n%s", ev.Outcome, ev.Error, runner.OutcomeNotRunnable, stdout.String())
	}
	if ev := outcomes["host"]; ev.Outcome != runner.OutcomePassed {
		t.Errorf("the host scenario ended %q (%s), want it to run and pass\n%s", ev.Outcome, ev.Error, stdout.String())
	}
	// Its namespaces would carry its pid (other runs on the machine
	// make theirs meanwhile).
	if left := namespacesWith([]string{fmt.Sprintf("sc%d-", cmd.Process.Pid)}); len(left) > 0 {
		t.Errorf("namespaces of the unprivileged run: %v", left)
	}
	// The report says so in words.
	text := exec.Command(bin, "run", "--logs", logs, "--consul", consulBin, topo, host)
	text.Dir, text.Env, text.SysProcAttr = dir, cmd.Env, cmd.SysProcAttr
	out, _ := text.CombinedOutput()
	for _, want := range []string{"--- NOT RUNNABLE topo", "lacks CAP_SYS_ADMIN and CAP_NET_ADMIN", "--- PASS host", "1 passed, 0 failed, 1 not runnable here"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}

// The network steps do what they say, to the node they name, measured
// from another node: a cut node's echo does not answer (while a third
// node's does) and answers again once reconnected; 100% loss on app2
// makes it unreachable and spares app3; 1mbit on app2 makes 250 KB take
// about 2 s. No agents: the faults are the network's.
func TestTopologyFaultsAreAppliedToTheirNode(t *testing.T) {
	needMesh(t, namespaces)
	t.Parallel()
	topoSlot(t)
	echo := func(node string) string {
		return fmt.Sprintf("  - run: {name: echo, command: \"socat TCP-LISTEN:8282,bind=$SCENARIO_NODE_ADDR,reuseaddr,fork EXEC:cat\", ready: \"%[1]s:8282\"}\n    node: %[1]s\n", node)
	}
	reaches := func(node string) string {
		return fmt.Sprintf("  - {expect: {to: \"%s:8282\", send: \"hello\\n\", reply: \"hello\\n\"}, node: app1}\n", node)
	}
	// A dial that must time out: socat exits 1. Commands reach another
	// node by $SCENARIO_NODE_<NAME>_ADDR (checked first: an empty one
	// would fail the dial too).
	unreachable := func(addr string) string {
		return fmt.Sprintf("  - {exec: {command: \"[ $SCENARIO_NODE_APP2_ADDR = %s ] || exit 3; echo x | socat - TCP:$SCENARIO_NODE_APP2_ADDR:8282,connect-timeout=1 && echo reached\", exit: 1, stdout: \"^$\"}, node: app1}\n", addr)
	}
	// Prints how long fetching 250 KB from app2 took, and whether that
	// is under 1.5 s (2 s at 1mbit).
	fetch := "s=$(date +%s%N); n=$(socat -u TCP:$SCENARIO_NODE_APP2_ADDR:8383 - | wc -c); e=$(date +%s%N); ms=$(( (e-s)/1000000 )); " +
		"echo bytes=$n ms=$ms; if [ $ms -ge 1500 ]; then echo limited; else echo unlimited; fi"
	src := "nodes: [app1, app2, app3]\nsteps:\n" + echo("app2") + echo("app3") +
		"  - run: {name: source, command: \"socat TCP-LISTEN:8383,bind=$SCENARIO_NODE_ADDR,reuseaddr,fork SYSTEM:'head -c 250000 /dev/zero'\", ready: \"app2:8383\"}\n    node: app2\n" +
		reaches("app2") + reaches("app3") +
		"  - disconnect: app2\n" + unreachable(app2Addr) + reaches("app3") +
		"  - reconnect: app2\n" + reaches("app2") +
		"  - {loss: 100%, node: app2}\n" + unreachable(app2Addr) + reaches("app3") +
		"  - {loss: 0%, node: app2}\n" + reaches("app2") +
		"  - {bandwidth: 1mbit, node: app2}\n" +
		"  - {exec: {command: \"" + fetch + "\", stdout: \"bytes=250000 ms=[0-9]+\\nlimited\\n\"}, node: app1, timeout: 30s}\n" +
		"  - {bandwidth: 'off', node: app2}\n" +
		"  - {exec: {command: \"" + fetch + "\", stdout: \"bytes=250000 \"}, node: app1}\n"
	file := writeTopo(t, "faults", src)
	r := runTopo(t, nil, file)
	t.Logf("faults in %s", r.took.Round(100*time.Millisecond))
	if r.exit != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.exit, r.out)
	}
	for _, ev := range r.events {
		if ev.Event == "step-end" && ev.Step.Type == "exec" && strings.Contains(ev.Step.Label, "wc -c") {
			t.Logf("step %d: %.0f ms", ev.Step.Index, ev.Step.DurationMS)
		}
	}
}

// A client agent starts only once a server its datacenter started before
// it serves: it then joins at its first attempt, and the server's start
// is not slowed by the clients' beside it. Started together, every
// client was forked before the server's serf was up, and retried.
func TestClientAgentsStartOnceTheirServerServes(t *testing.T) {
	needMesh(t, namespaces)
	t.Parallel()
	topoSlot(t)
	file := writeTopo(t, "clients-after-server", `nodes: [server, app1, app2]
steps:
  - {start-agent: {dev: true}, node: server}
  - {start-agent: {}, node: app1}
  - {start-agent: {}, node: app2}
`)
	r := runTopo(t, nil, file)
	if r.exit != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.exit, r.out)
	}
	started := map[string]*runner.ProcessEvent{}
	at := map[string]time.Time{}
	for _, ev := range r.events {
		if ev.Event == "process-start" && ev.Process.Name == "agent" {
			started[ev.Process.Node], at[ev.Process.Node] = ev.Process, ev.Time
		}
		// Asked at the lowest CPU priority beside the run, it still comes.
		if ev.Event == "scenario-end" && !strings.HasPrefix(ev.ConsulVersion, "Consul v") {
			t.Errorf("scenario-end says consul_version %q, want consul's first line of `consul version`", ev.ConsulVersion)
		}
	}
	if len(started) != 3 {
		t.Fatalf("agents started on %d nodes, want 3\n%s", len(started), r.out)
	}
	// The server's serf is up before its API serves; Consul's log times
	// are in milliseconds, truncated.
	serfUp := logLineTime(t, started["server"].Log, "serf: EventMemberJoin: server ")
	for _, client := range []string{"app1", "app2"} {
		if !at[client].After(serfUp) {
			t.Errorf("the client on %s was started at %s, before its server's serf was up (%s)",
				client, at[client].Format(time.StampMicro), serfUp.Format(time.StampMicro))
		}
		log, err := os.ReadFile(started[client].Log)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(log, []byte("couldn't join")) {
			t.Errorf("the client on %s did not join at its first attempt:\n%s", client, log)
		}
	}
}

// logLineTime is the time of the first line of a Consul log that holds
// what.
func logLineTime(t *testing.T, path, what string) time.Time {
	t.Helper()
	log, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(log), "\n") {
		if !strings.Contains(line, what) {
			continue
		}
		stamp, _, _ := strings.Cut(line, " ")
		when, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			t.Fatalf("%s: the line %q has no time: %v", path, line, err)
		}
		return when
	}
	t.Fatalf("%s has no line with %q", path, what)
	return time.Time{}
}
