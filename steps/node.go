package steps

import (
	"context"
	"errors"

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
