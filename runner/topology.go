package runner

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/scenario-tool/scenario/flows"
	scnetns "github.com/scenario-tool/scenario/netns"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/steps"
	"github.com/scenario-tool/scenario/topology"
)

// labNetwork is a topology.Lab as the session uses it.
type labNetwork struct{ lab *topology.Lab }

func (n labNetwork) Node(name string) (netNode, bool) {
	node, ok := n.lab.Node(name)
	if !ok {
		return nil, false
	}
	return node, true
}

// NotRunnableError says why a scenario cannot run on this machine (it
// needs network namespaces that this process may not create). It is
// neither a pass nor a failure of the mesh.
type NotRunnableError struct{ Err error }

func (e *NotRunnableError) Error() string {
	return "not runnable here: " + e.Err.Error()
}

func (e *NotRunnableError) Unwrap() error { return e.Err }

// openNetwork builds the scenario's nodes: a namespace each, cabled to a
// bridge of the run's own. Names carry a prefix unique to the run, so that
// parallel runs never meet, and the reaper learns each one, so that they
// are removed even if this process is killed.
func openNetwork(sc *Scenario, guardian proc.Guardian) (*topology.Lab, time.Duration, error) {
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	// The runner's pid and start time: a later run (or `scenario clean`)
	// knows the names of a runner that is gone, and a reused pid is not
	// mistaken for it.
	self, err := proc.StartTime(os.Getpid())
	if err != nil {
		return nil, 0, fmt.Errorf("reading this process's start time for the namespace names: %w", err)
	}
	prefix := scnetns.RunPrefix(os.Getpid(), self, hex.EncodeToString(suffix))
	start := time.Now()
	lab, err := topology.New(prefix, sc.Nodes, topology.WithRegistrar(proc.NamespacesOf(guardian)))
	if err != nil {
		// Asked only now: its check makes and drops a network namespace
		// of its own (0.6 ms, and the kernel's work of removing it), which
		// a run that can build its network does not need.
		if why := topology.Permitted(); why != nil {
			return nil, 0, &NotRunnableError{Err: why}
		}
		return nil, 0, fmt.Errorf("building the scenario's network of %d nodes: %w", len(sc.Nodes), err)
	}
	return lab, time.Since(start), nil
}

func (n labNetwork) Disconnect(node string) error { return n.lab.Disconnect(node) }
func (n labNetwork) Heal() error                  { return n.lab.Heal() }
func (n labNetwork) Reconnect(node string) error  { return n.lab.Reconnect(node) }

func (n labNetwork) SetLoss(node string, percent int) error {
	return n.onNode(node, func(x *topology.Node) error { return x.SetLoss(percent) })
}

func (n labNetwork) SetBandwidth(node string, bytesPerSecond uint64) error {
	return n.onNode(node, func(x *topology.Node) error { return x.SetBandwidth(bytesPerSecond) })
}

// onNode applies a fault to node.
func (n labNetwork) onNode(node string, fault func(*topology.Node) error) error {
	x, ok := n.lab.Node(node)
	if !ok {
		return fmt.Errorf("no node %q in this scenario's network", node)
	}
	return fault(x)
}

func (n labNetwork) Capture() (steps.WireCapture, error) {
	c, err := n.lab.Capture()
	if err != nil {
		return nil, err
	}
	return labCapture{c}, nil
}

// labCapture hands a capture's evidence to the steps as the values they
// read (flows.Evidence), which keeps them free of the capture's code.
type labCapture struct{ c *topology.Capture }

func (l labCapture) Stop() (flows.Evidence, error) {
	ev, err := l.c.Stop()
	if err != nil {
		return nil, err
	}
	return ev, nil
}

func (n labNetwork) NodeAt(ip netip.Addr) string {
	for _, node := range n.lab.Nodes() {
		if node.Addr() == ip {
			return node.Name()
		}
	}
	return ""
}
