package runner

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// ExternalAgent is an existing cluster's agent a run talks to (`scenario
// run --agent`), so that a team can gate a deploy on what the live mesh
// does: probes through the sidecars that already run there, intention
// decisions, and, when AllowWrites, changes that are undone at the end
// (and commands, whose changes are not, which the report says).
type ExternalAgent struct {
	Address     string // host:port of its HTTP API
	Token       string // an ACL token, from the environment; may be empty
	AllowWrites bool
}

// checkExternal says why sc cannot run against an existing cluster,
// every offending step at its file:line:col, or nil. Loading with
// scenariofile.AgainstExistingCluster refuses the same steps before
// anything runs; this holds for a scenario loaded otherwise too.
func checkExternal(sc *Scenario, a ExternalAgent) error {
	var problems []string
	if len(sc.Nodes) > 0 {
		problems = append(problems, fmt.Sprintf("%s: the scenario has nodes of its own; --agent runs scenarios against an existing cluster", sc.File))
	}
	for _, it := range sc.Items {
		if why := it.Cluster.RefusedOnExistingCluster(a.AllowWrites); why != "" {
			problems = append(problems, fmt.Sprintf("%s: step %d (%s) %s", it.Pos, it.Index+1, it.Type, why))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// useExternal makes the session talk to an existing agent: it must answer
// now, or the run fails before its first step.
func (s *session) useExternal(ctx context.Context, a ExternalAgent) error {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address, cfg.Token = a.Address, a.Token
	if strings.HasPrefix(a.Address, "https://") || strings.HasPrefix(a.Address, "http://") {
		scheme, rest, _ := strings.Cut(a.Address, "://")
		cfg.Scheme, cfg.Address = scheme, rest
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("--agent %s: %w", a.Address, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, _, err := client.Agent().ConnectCARoots((&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("--agent %s does not answer as a Consul agent with Connect: %w (is the address right? is a token needed, in $CONSUL_HTTP_TOKEN?)", a.Address, err)
	}
	s.redactor.learnToken(a.Token)
	if file := os.Getenv("CONSUL_HTTP_TOKEN_FILE"); file != "" {
		// The client sends the token of the caller's file (it wins over
		// CONSUL_HTTP_TOKEN), and commands inherit the variable: hide that
		// token as well.
		if data, err := os.ReadFile(file); err == nil {
			s.redactor.learnToken(strings.TrimSpace(string(data)))
		}
	}
	s.external = true
	s.setAgent("", nil, cfg)
	return nil
}
