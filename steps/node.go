package steps

import (
	"context"

	"github.com/scenario-tool/scenario/wait"
)

// Inside checks cond from inside the step's node (its listeners are read
// from the node's /proc/thread-self/net); on the host it is cond.
func Inside(env Env, cond wait.Condition) wait.Condition {
	return wait.Func(cond.String(), func(ctx context.Context) error {
		return env.Inside(func() error { return cond.Check(ctx) })
	})
}
