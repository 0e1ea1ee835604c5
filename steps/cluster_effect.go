package steps

import (
	"errors"
	"fmt"
)

// ClusterEffect is what a step does to the Consul cluster it runs
// against. On a cluster the scenario started, every step may run; on an
// existing one (`run --agent`), the effect decides, before anything runs,
// whether the step is refused, needs --allow-writes, and whether the
// runner can put its change back at the end. Make one with Reads, Undone,
// NotUndone or OwnClusterOnly.
type ClusterEffect struct {
	Use ClusterUse
	// Why says, for Undone, how the change is put back; for NotUndone,
	// what stays changed; for OwnClusterOnly, why the step cannot run
	// against an existing cluster.
	Why string
}

// ClusterUse classifies a step's effect on a cluster.
type ClusterUse int

const (
	// useUnset is no decision: a type that forgets to say is refused at
	// registration, so that a new write step cannot slip past --agent.
	useUnset ClusterUse = iota
	// UseReads asks the cluster and probes its mesh, changing nothing.
	UseReads
	// UseUndone changes the cluster and, on an existing one, registers
	// how to put the change back (Env.Undo), which the runner does at the
	// end, newest first.
	UseUndone
	// UseNotUndone may change the cluster, or anything else, in ways the
	// runner cannot know or put back: a user's command.
	UseNotUndone
	// UseOwnCluster needs a cluster the scenario runs itself: it starts or
	// stops the cluster's processes, acts on the scenario's own nodes, or
	// makes a change that cannot be put back.
	UseOwnCluster
)

// Reads is the effect of a step that changes nothing in the cluster.
func Reads() ClusterEffect { return ClusterEffect{Use: UseReads} }

// Undone is the effect of a step whose change the runner puts back on an
// existing cluster, and how.
func Undone(how string) ClusterEffect { return ClusterEffect{Use: UseUndone, Why: how} }

// NotUndone is the effect of a step whose changes the runner cannot put
// back; stays says what stays changed.
func NotUndone(stays string) ClusterEffect { return ClusterEffect{Use: UseNotUndone, Why: stays} }

// OwnClusterOnly is the effect of a step that cannot run against an
// existing cluster, and why.
func OwnClusterOnly(why string) ClusterEffect { return ClusterEffect{Use: UseOwnCluster, Why: why} }

func (c ClusterEffect) check() error {
	switch c.Use {
	case useUnset:
		return errors.New("it must say what it does to a cluster (Cluster: Reads(), Undone(how), NotUndone(why) or OwnClusterOnly(why))")
	case UseUndone, UseNotUndone, UseOwnCluster:
		if c.Why == "" {
			return errors.New("its Cluster effect must say why (or how it is undone)")
		}
	case UseReads:
	default:
		return fmt.Errorf("unknown cluster use %d", c.Use)
	}
	return nil
}

// Writes says whether the step may change the cluster.
func (c ClusterEffect) Writes() bool { return c.Use == UseUndone || c.Use == UseNotUndone }

// RefusedOnExistingCluster says why a step with effect c cannot run
// against an existing cluster (`run --agent`), given whether writes are
// allowed, as a predicate after the step's name; "" when it may. It
// names the flag to use.
func (c ClusterEffect) RefusedOnExistingCluster(allowWrites bool) string {
	switch c.Use {
	case UseReads:
		return ""
	case UseUndone:
		if allowWrites {
			return ""
		}
		return "writes to the live cluster: add --allow-writes to let it (it is undone at the end)"
	case UseNotUndone:
		if allowWrites {
			return ""
		}
		return fmt.Sprintf("can change the live cluster in ways the runner cannot undo (%s): add --allow-writes to let it, knowing that what it changes stays changed", c.Why)
	case UseOwnCluster:
		return "cannot run with --agent: " + c.Why
	}
	return "has no declared effect on a cluster (a bug in its step type)"
}

// AgentHelp says, for the help of --allow-writes, which step types of r
// write and which of them the runner cannot undo.
func (r *Registry) AgentHelp() (undone, notUndone []string) {
	for _, t := range r.Types() {
		switch t.Cluster.Use {
		case UseUndone:
			undone = append(undone, t.Name)
		case UseNotUndone:
			notUndone = append(notUndone, t.Name)
		}
	}
	return undone, notUndone
}
