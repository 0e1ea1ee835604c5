package steps

import (
	"fmt"
	"strconv"
)

// agentCommand is a consul agent's command line as typed values: the one
// place the runner turns an agent's settings into flags, on the host and
// on a scenario's nodes.
type agentCommand struct {
	Dev             bool
	Server          bool
	BootstrapExpect int // with Server
	Node            string
	Datacenter      string
	DataDir         string
	Bind            string
	Client          string
	UI              bool
	ConfigDir       string
	RetryJoin       []string
	RetryJoinWAN    []string
	RetryInterval   string // for both joins

	// Settings with no flag of their own, passed as -hcl.
	Connect           bool
	GRPCPort          int
	RaftMultiplier    int
	RPCHoldTimeout    string
	LeaveOnTerminate  *bool
	PrimaryDatacenter string

	// Args are the scenario's own flags, last, so that its -hcl wins.
	Args []string
}

// argv is the command line running bin.
func (c agentCommand) argv(bin string) []string {
	argv := []string{bin, "agent"}
	flag := func(name, value string) {
		if value != "" {
			argv = append(argv, "-"+name, value)
		}
	}
	if c.Dev {
		argv = append(argv, "-dev")
	}
	if c.Server {
		argv = append(argv, "-server")
		if c.BootstrapExpect > 0 {
			argv = append(argv, "-bootstrap-expect="+strconv.Itoa(c.BootstrapExpect))
		}
	}
	flag("node", c.Node)
	flag("datacenter", c.Datacenter)
	flag("data-dir", c.DataDir)
	flag("bind", c.Bind)
	flag("client", c.Client)
	if c.UI {
		argv = append(argv, "-ui")
	}
	for _, a := range c.RetryJoin {
		flag("retry-join", a)
	}
	if len(c.RetryJoin) > 0 {
		flag("retry-interval", c.RetryInterval)
	}
	for _, a := range c.RetryJoinWAN {
		flag("retry-join-wan", a)
	}
	if len(c.RetryJoinWAN) > 0 {
		flag("retry-interval-wan", c.RetryInterval)
	}
	for _, h := range c.hcl() {
		argv = append(argv, "-hcl", h)
	}
	flag("config-dir", c.ConfigDir)
	return append(argv, c.Args...)
}

// hcl are the settings that only configuration can give, one -hcl each.
func (c agentCommand) hcl() []string {
	var out []string
	if c.Connect {
		out = append(out, "connect { enabled = true }")
	}
	if c.GRPCPort != 0 {
		out = append(out, fmt.Sprintf("ports { grpc = %d }", c.GRPCPort))
	}
	switch {
	case c.RaftMultiplier != 0 && c.RPCHoldTimeout != "":
		out = append(out, fmt.Sprintf("performance { raft_multiplier = %d, rpc_hold_timeout = %q }", c.RaftMultiplier, c.RPCHoldTimeout))
	case c.RaftMultiplier != 0:
		out = append(out, fmt.Sprintf("performance { raft_multiplier = %d }", c.RaftMultiplier))
	case c.RPCHoldTimeout != "":
		out = append(out, fmt.Sprintf("performance { rpc_hold_timeout = %q }", c.RPCHoldTimeout))
	}
	if c.LeaveOnTerminate != nil {
		out = append(out, fmt.Sprintf("leave_on_terminate = %t", *c.LeaveOnTerminate))
	}
	if c.PrimaryDatacenter != "" {
		out = append(out, fmt.Sprintf("primary_datacenter = %q", c.PrimaryDatacenter))
	}
	return out
}
