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
// decisions, and, when AllowWrites, intention changes that are undone at
// the end.
type ExternalAgent struct {
	Address     string // host:port of its HTTP API
	Token       string // an ACL token, from the environment; may be empty
	AllowWrites bool
}

// writeSteps change an existing cluster; with --agent they need
// --allow-writes, and each is undone at the end.
var writeSteps = []string{"set-intention", "delete-intention"}

// refusedOnAgent cannot run against an existing cluster at all: they start
// or stop processes, or change what cannot be put back exactly.
var refusedOnAgent = map[string]string{
	"start-agent":    "the cluster's agents are already running",
	"run":            "it would start a process beside a live cluster",
	"sidecar":        "the cluster's sidecars are already running",
	"stop":           "it would stop one of the cluster's processes",
	"register":       "it would register a service in the live catalog",
	"check":          "it would change a live health check",
	"config-entry":   "a config entry cannot be put back exactly",
	"prepared-query": "it would change a live prepared query",
	"rotate-ca":      "it would rotate the live cluster's CA",
	"disconnect":     "it needs the scenario's own nodes",
	"reconnect":      "it needs the scenario's own nodes",
	"loss":           "it needs the scenario's own nodes",
	"bandwidth":      "it needs the scenario's own nodes",
}

// CheckExternal says why sc cannot run against an existing cluster, every
// offending step at its file:line:col, or nil.
func CheckExternal(sc *Scenario, a ExternalAgent) error {
	var problems []string
	if len(sc.Nodes) > 0 {
		problems = append(problems, fmt.Sprintf("%s: the scenario has nodes of its own; --agent runs scenarios against an existing cluster", sc.File))
	}
	for _, it := range sc.Items {
		if why, refused := refusedOnAgent[it.Type]; refused {
			problems = append(problems, fmt.Sprintf("%s: step %d (%s) cannot run with --agent: %s", it.Pos, it.Index+1, it.Type, why))
			continue
		}
		for _, w := range writeSteps {
			if it.Type == w && !a.AllowWrites {
				problems = append(problems, fmt.Sprintf("%s: step %d (%s) writes to the live cluster: add --allow-writes to let it (it is undone at the end)", it.Pos, it.Index+1, it.Type))
			}
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
