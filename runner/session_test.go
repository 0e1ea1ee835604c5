package runner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// At cleanup a server stops beside the other nodes, unless a client agent
// leaves its cluster on SIGTERM: a leave waits for a server to hear it, so
// the servers then stop only once that client has.
func TestServersStopBesideClientsUnlessAClientLeaves(t *testing.T) {
	const leaveTakes = 300 * time.Millisecond // the sleep in its trap
	for _, leaves := range []bool{false, true} {
		dir := t.TempDir()
		start := func(name string, argv ...string) *proc.Process {
			p, err := proc.Start(proc.Spec{Name: name, Argv: argv, LogPath: filepath.Join(dir, name+".log")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Stop(0, killNow) })
			return p
		}
		// The client's agent takes leaveTakes to exit after SIGTERM, as a
		// leave does; the server's is killed at once (a dev server).
		ready := filepath.Join(dir, "trapped")
		client := start("client", "sh", "-c", "trap 'sleep 0.3; exit 0' TERM; touch "+ready+"; sleep 33.3 & wait")
		if err := wait.For(t.Context(), wait.Func("the trap to be set", func(context.Context) error { _, err := os.Stat(ready); return err }), wait.Options{}); err != nil {
			t.Fatal(err)
		}
		server := start("server", "sleep", "33.3")
		s := &session{grace: 5 * time.Second, cluster: spec.Cluster{Nodes: []string{"server", "app1"},
			Agents: []spec.AgentPlan{{Node: "server", Datacenter: "dc1", Server: true, Dev: true}, {Node: "app1", Datacenter: "dc1"}}},
			resources: []resource{
				{name: "agent", node: "server", proc: server, disposable: true},
				{name: "agent", node: "app1", proc: client, leaves: leaves},
			}}
		endOf := func(p *proc.Process) <-chan time.Time {
			at := make(chan time.Time, 1)
			go func() { <-p.Done(); at <- time.Now() }()
			return at
		}
		serverEnd, clientEnd := endOf(server), endOf(client)
		began := time.Now()
		s.closeAll()
		serverAfter, clientAfter := (<-serverEnd).Sub(began), (<-clientEnd).Sub(began)
		switch {
		case leaves && serverAfter < clientAfter:
			t.Errorf("a client that leaves stopped %s into cleanup, the server already %s into it: the server must wait for the leave", clientAfter, serverAfter)
		case !leaves && serverAfter >= leaveTakes:
			t.Errorf("with no client leaving, the server stopped %s into cleanup, after the client's %s: it waited for the client", serverAfter, clientAfter)
		}
	}
}
