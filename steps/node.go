package steps

import (
	"context"
	"errors"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// Inside checks cond from inside the step's node (its listeners are read
// from the node's /proc/thread-self/net); on the host it is cond.
func Inside(env Env, cond wait.Condition) wait.Condition {
	return wait.Func(cond.String(), func(ctx context.Context) error {
		return env.Inside(func() error { return cond.Check(ctx) })
	})
}

// networkOf is the scenario's network of nodes, for the steps that change
// it; the loader refuses them in a scenario without nodes.
func networkOf(env Env) (Network, error) {
	if net := env.Network(); net != nil {
		return net, nil
	}
	return nil, errors.New("this scenario has no network of nodes")
}

// needsNodes reports an error at at unless the scenario has nodes.
func needsNodes(d *spec.Decoder, at *yaml.Node, what string) bool {
	if len(d.Nodes()) == 0 {
		d.Errorf(at, "%s needs nodes: list them at the top (`nodes: [server, app1]`) and start their agents with `node:`", what)
		return false
	}
	return true
}
