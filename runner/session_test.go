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
		// The client's agent takes a second to exit after SIGTERM, as a
		// leave does; the server's is killed at once (a dev server).
		ready := filepath.Join(dir, "trapped")
		client := start("client", "sh", "-c", "trap 'sleep 1; exit 0' TERM; touch "+ready+"; sleep 33.3 & wait")
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
		// Whether the client had ended when the server did.
		clientGoneFirst := make(chan bool, 1)
		go func() {
			<-server.Done()
			select {
			case <-client.Done():
				clientGoneFirst <- true
			default:
				clientGoneFirst <- false
			}
		}()
		s.closeAll()
		switch first := <-clientGoneFirst; {
		case leaves && !first:
			t.Errorf("the server stopped while a client that leaves on SIGTERM was still leaving: it must wait for the leave")
		case !leaves && first:
			t.Errorf("with no client leaving, the server stopped only after the client's second-long exit: it waited for the client")
		}
	}
}
