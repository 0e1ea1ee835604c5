package steps

// Role is what a process started by a step is to the run; the runner
// chooses its environment by it (Env.Start), not by its name.
type Role int

const (
	// RoleCommand is a scenario's own command (run): it gets the mesh
	// and runs in the scenario's folder, beside the scenario.
	RoleCommand Role = iota
	// RoleAgent is the consul agent: the runner's, so that what it runs
	// (script checks, watch handlers) reaches it and not the caller's
	// cluster or identity.
	RoleAgent
	// RoleSidecar is a connect proxy: the mesh as the runner chooses,
	// with its step's token.
	RoleSidecar
)

func (r Role) String() string {
	switch r {
	case RoleAgent:
		return "agent"
	case RoleSidecar:
		return "sidecar"
	}
	return "command"
}
