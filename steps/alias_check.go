package steps

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
)

// An alias check's status is not its aliased service's status at every
// moment: Consul (agent/checks/alias.go) starts it with its declared
// status (passing, if so declared) and a goroutine computes it from the
// aliased service's checks a moment later, and again each time one of
// them changes. The registration is synced to the catalog at once, so
// the catalog can show the declared status while the agent already has
// the computed one; the anti-entropy syncer may then wait up to 3 s
// (after a server joined) before it syncs the change. A reader that takes
// the catalog's passing for the service's health sees it turn critical
// soon after.

// aliasTarget is what an alias check follows: a service instance by ID,
// on the agent's own node (node "": the agent's local state) or on
// another node (the catalog's checks of that node).
type aliasTarget struct {
	service, node string
}

func (a aliasTarget) String() string {
	s := "service " + a.service
	if a.node != "" {
		s += " on node " + a.node
	}
	return s
}

// aliasTargetsOf are the alias checks among a service's registered
// checks (by check ID, as the book has them).
func aliasTargetsOf(checks map[string]*api.AgentServiceCheck) map[string]aliasTarget {
	out := map[string]aliasTarget{}
	for id, c := range checks {
		if c.AliasService != "" || c.AliasNode != "" {
			out[id] = aliasTarget{service: c.AliasService, node: c.AliasNode}
		}
	}
	return out
}

// aliasStatus is the status Consul's alias check computes from checks
// (CheckAlias.processChecks): the aliased service's checks and the
// node's own, critical over warning over passing; with no check of the
// service, critical when the service does not exist, else passing. why
// names the checks that decide.
func aliasStatus(checks []*api.HealthCheck, target aliasTarget, serviceExists bool) (status, why string) {
	status = api.HealthPassing
	found := false
	var bad []string
	for _, c := range checks {
		if target.node != "" && c.Node != target.node {
			continue
		}
		if c.ServiceID != "" && c.ServiceID != target.service {
			continue
		}
		if c.ServiceID == target.service {
			found = true
		}
		switch c.Status {
		case api.HealthCritical:
			status = api.HealthCritical
			bad = append(bad, fmt.Sprintf("%q critical", c.Name))
		case api.HealthWarning:
			if status != api.HealthCritical {
				status = api.HealthWarning
			}
			bad = append(bad, fmt.Sprintf("%q warning", c.Name))
		}
	}
	sort.Strings(bad)
	switch {
	case !found && !serviceExists:
		return api.HealthCritical, fmt.Sprintf("no %s", target)
	case len(bad) > 0:
		return status, "its checks " + strings.Join(bad, ", ")
	case !found:
		return status, "no check of it (an instance without checks is passing)"
	}
	return status, "all its checks passing"
}

// agentNotPassing says why the agent does not have service id passing
// for certain: a check of it not passing, or an alias check that does not
// (yet) say what the checks it follows say; "" when neither. targets are
// the alias checks the registration declared; an alias check it does not
// know (an exec registered it) counts by its status only, what it
// follows being unknown.
func agentNotPassing(ctx context.Context, client *api.Client, id string, targets map[string]aliasTarget) (string, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	agentChecks, err := client.Agent().ChecksWithFilterOpts("", q)
	if err != nil {
		return "", fmt.Errorf("reading the agent's checks: %w", err)
	}
	var local []*api.HealthCheck
	for _, c := range agentChecks {
		local = append(local, &api.HealthCheck{Node: c.Node, CheckID: c.CheckID, Name: c.Name, Status: c.Status, ServiceID: c.ServiceID})
	}
	var out []string
	for _, c := range agentChecks {
		if c.ServiceID != id {
			continue
		}
		if c.Status != api.HealthPassing && c.Type != "alias" {
			out = append(out, fmt.Sprintf("the agent has its check %q (%s) %s: %q", c.Name, c.CheckID, c.Status, strings.TrimSpace(c.Output)))
		}
		if c.Type != "alias" {
			continue
		}
		target, ok := targets[c.CheckID]
		if !ok {
			// A definition the scenario did not register (an exec's): what
			// it follows is unknown (Consul's answer has no definition), so
			// it adds no condition beyond its status.
			continue
		}
		checks, exists := local, true
		if target.node != "" {
			checks, _, err = client.Health().Node(target.node, q)
			if err != nil {
				return "", fmt.Errorf("reading node %s's checks for alias check %s: %w", target.node, c.CheckID, err)
			}
			exists = nodeHasService(ctx, client, target)
		} else if !hasCheckOf(local, target.service) {
			services, err := client.Agent().ServicesWithFilterOpts("", q)
			if err != nil {
				return "", fmt.Errorf("reading the agent's services: %w", err)
			}
			_, exists = services[target.service]
		}
		want, why := aliasStatus(checks, target, exists)
		switch {
		case want == c.Status && want != api.HealthPassing:
			detail := ": " + why
			if d := describeChecks(agentChecks, target.service); target.node == "" && d != "" {
				detail = d
			}
			out = append(out, fmt.Sprintf("the agent has its alias check %q (%s) %s, following %s%s", c.Name, c.CheckID, c.Status, target, detail))
		case want != c.Status:
			msg := fmt.Sprintf("its alias check %q (%s) is %s, but %s, which it follows, is %s by %s as the agent has them: the alias has not caught up yet (Consul sets an alias check from its declared status, then follows)",
				c.Name, c.CheckID, c.Status, target, want, why)
			if own := nodeOwnChecks(agentChecks); target.node == "" && own != "" {
				// agent/checks/alias.go: an alias is woken by the checks of
				// the service it follows, and re-reads everything once a
				// minute; the node's checks count but do not wake it.
				msg += fmt.Sprintf("; the node's own checks (%s) count for the alias too, but a change of theirs does not wake it: Consul re-reads them when a check of %s changes, or once a minute, so give this step a timeout over a minute", own, target)
			}
			out = append(out, msg)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; "), nil
}

// nodeOwnChecks names the node's own checks on the agent (not Serf's),
// "" when there are none.
func nodeOwnChecks(checks map[string]*api.AgentCheck) string {
	var names []string
	for _, c := range checks {
		if c.ServiceID == "" && c.CheckID != "serfHealth" {
			names = append(names, c.CheckID)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// describeChecks names the checks of the given service IDs that are not
// passing, with their output, as the agent has them.
func describeChecks(checks map[string]*api.AgentCheck, ids ...string) string {
	var out []string
	for _, c := range checks {
		if c.Status == api.HealthPassing || !slices.Contains(ids, c.ServiceID) {
			continue
		}
		output := strings.TrimSpace(c.Output)
		if len(output) > 300 {
			output = output[:300] + "..."
		}
		out = append(out, fmt.Sprintf("check %q (ID %s, of %s) is %s: %q", c.Name, c.CheckID, c.ServiceID, c.Status, output))
	}
	sort.Strings(out)
	if len(out) == 0 {
		return ""
	}
	return "; " + strings.Join(out, "; ")
}

func hasCheckOf(checks []*api.HealthCheck, serviceID string) bool {
	for _, c := range checks {
		if c.ServiceID == serviceID {
			return true
		}
	}
	return false
}

// nodeHasService says whether the catalog lists target's service on its
// node; true when the catalog cannot say (as Consul's alias assumes).
func nodeHasService(ctx context.Context, client *api.Client, target aliasTarget) bool {
	node, _, err := client.Catalog().Node(target.node, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil || node == nil {
		return true
	}
	for _, s := range node.Services {
		if s.ID == target.service {
			return true
		}
	}
	return false
}
