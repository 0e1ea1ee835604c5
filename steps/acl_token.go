package steps

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// aclTokenType is the acl-token step.
var aclTokenType = Typed(Type{
	Name:    "acl-token",
	Cluster: Undone("the token is deleted"),
	Summary: "creates an ACL token with service identities and policies (with the scenario's management token) and keeps its secret under a name for register and sidecar's token:, and for commands as $SCENARIO_TOKEN_<NAME>; the secret is redacted in the report (text, --json, JUnit, test2json) and in the logs the runner writes, not in Consul's own data dir (a non-dev agent's agent-data)",
	Example: `- acl-token: {name: web-token, service-identities: [web]}`,
	Timeout: 30 * time.Second,
}, buildACLToken)

// ACLTokenSpec is the value of an acl-token step.
type ACLTokenSpec struct {
	Name              string   `key:"name,required" shape:"NAME" doc:"what register, sidecar and commands call the token"`
	ServiceIdentities []string `key:"service-identities" shape:"[SERVICE, ...]" doc:"services the token may register and act as (Consul's service identities: service:write on each, read on the catalog)"`
	Policies          []string `key:"policies" shape:"[POLICY, ...]" doc:"existing ACL policies, by name"`
	Description       string   `key:"description" doc:"the token's description in Consul (default: made by scenario, with its name)"`
}

var tokenName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)

type aclToken struct {
	name, description string
	identities        []string
	policies          []string
}

func buildACLToken(d *spec.Decoder, val *ACLTokenSpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "acl-token")
	if !tokenName.MatchString(val.Name) {
		d.Errorf(f.NodeOf(&val.Name), "acl-token.name %q must be a word of letters, digits, - and _ (it becomes $SCENARIO_TOKEN_<NAME>)", val.Name)
		return nil
	}
	if len(val.ServiceIdentities) == 0 && len(val.Policies) == 0 {
		d.Errorf(f.At(), "acl-token %s grants nothing: give it service-identities or policies", val.Name)
	}
	d.Define(spec.KindToken, val.Name, f.NodeOf(&val.Name))
	desc := val.Description
	if desc == "" {
		desc = "made by scenario: " + val.Name
	}
	return &aclToken{name: val.Name, description: desc, identities: val.ServiceIdentities, policies: val.Policies}
}

func (t *aclToken) String() string {
	var grants []string
	if len(t.identities) > 0 {
		grants = append(grants, "service identities "+strings.Join(t.identities, ", "))
	}
	if len(t.policies) > 0 {
		grants = append(grants, "policies "+strings.Join(t.policies, ", "))
	}
	// Not "NAME: ...": the redactor takes what follows "token:" for a secret.
	return fmt.Sprintf("%s with %s", t.name, strings.Join(grants, "; "))
}

func (t *aclToken) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	tok := &api.ACLToken{Description: t.description}
	for _, s := range t.identities {
		tok.ServiceIdentities = append(tok.ServiceIdentities, &api.ACLServiceIdentity{ServiceName: s})
	}
	for _, p := range t.policies {
		tok.Policies = append(tok.Policies, &api.ACLTokenPolicyLink{Name: p})
	}
	made, _, err := client.ACL().TokenCreate(tok, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return WithLogs(fmt.Errorf("creating ACL token %s: %w (are ACLs enabled, and does the scenario's agent have a management token?)", t.name, err), spec.AgentName)
	}
	if env.External() {
		accessor := made.AccessorID
		env.Undo(fmt.Sprintf("ACL token %s deleted (accessor ID %s)", t.name, accessor), func(ctx context.Context) error {
			_, err := client.ACL().TokenDelete(accessor, (&api.WriteOptions{}).WithContext(ctx))
			return err
		})
	}
	env.Notef("%s has accessor ID %s (its secret is redacted)", t.name, made.AccessorID)
	env.SetToken(t.name, made.SecretID)
	return nil
}

// tokenFor returns the secret of the token name, for a step that uses it.
func tokenFor(env Env, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	secret, ok := env.Token(name)
	if !ok {
		return "", fmt.Errorf("no token %q: its acl-token step did not run", name)
	}
	return secret, nil
}
