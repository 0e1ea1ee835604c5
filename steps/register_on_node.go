package steps

import "context"

// registerOnNode is a register step on a scenario's node. A sidecar's
// registration on a client agent waits for the servers (the service's
// central config: tens of milliseconds), so it runs in the background and
// a registration on another node goes beside it, as registering each
// node's services by hand at once would. A step on the same node, and
// any other step that needs the registration, waits for it as for one on
// the host.
type registerOnNode struct {
	*register
	node string
}

// on is r as the step of node: a registerOnNode on a scenario's node.
func (r *register) on(node string) Step {
	if node == "" {
		return r
	}
	return &registerOnNode{r, node}
}

func (r *registerOnNode) Start(ctx context.Context, env Env) (func(context.Context) error, error) {
	result := background(func() error { return r.register.Run(ctx, env) })
	return func(context.Context) error { return <-result }, nil
}

// Beside: another node's registration talks to another agent, and needs
// nothing of this one's.
func (r *registerOnNode) Beside(pending Step) bool {
	other, ok := pending.(*registerOnNode)
	return ok && other.node != r.node || r.register.Beside(pending)
}
