package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// registerType is the register step.
var registerType = Typed(Type{
	Name:    "register",
	Cluster: Undone("each instance it registers is deregistered with its sidecar (an ID the agent already has is refused, not replaced)"),
	OnNode:  true,
	Summary: "registers the services of a Consul service-definition file (JSON or HCL, `service` or `services`, read as the agent reads its config files and checked by `consul validate`) or of an inline definition, with their connect.sidecar_service",
	Example: `- register: ../consul.d/socat.json`,
	Timeout: 30 * time.Second,
}, buildRegister)

// RegisterSpec is the value of a register step; `register: PATH` is
// {file: PATH}.
type RegisterSpec struct {
	File     *spec.File    `key:"file,shorthand" oneof:"source" doc:"a service-definition file (.json or .hcl) in Consul's format, as the agent reads its config files"`
	Service  ConsulObject  `key:"service" oneof:"source" doc:"one service definition inline, in Consul's format"`
	Services ConsulObjects `key:"services" oneof:"source" doc:"a list of service definitions inline, in Consul's format"`
	Token    string        `key:"token" shape:"TOKEN-NAME" doc:"register with this acl-token's secret instead of the scenario's token (under ACLs, a service-identity token for the service)"`
}

type register struct {
	source string // file path or "inline"
	file   *consuldef.ServiceFile
	token  string // an acl-token's name, or ""
}

func buildRegister(d *spec.Decoder, val *RegisterSpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "register")
	var (
		data   []byte
		source string
		format string
		errAt  = f.At()
		key    string // service or services, for an inline definition
	)
	switch {
	case val.File != nil:
		errAt = f.NodeOf(&val.File)
		source = string(*val.File)
	default:
		key, errAt = "service", val.Service.Node
		if val.Services.Node != nil {
			key, errAt = "services", val.Services.Node
		}
		budget := maxInlineNodes
		generic, err := yamlToGeneric(errAt, 0, &budget)
		if err != nil {
			d.Errorf(errAt, "register.%s: %v", key, err)
			return nil
		}
		data, _ = json.Marshal(map[string]any{key: generic})
		source, format = "inline", "json"
	}
	if source == "" {
		return nil
	}
	if data == nil {
		var err error
		if format, err = consuldef.DefinitionFormat(source); err != nil {
			d.Errorf(errAt, "register: %v", err)
			return nil
		}
		if data, err = consuldef.ReadDefinition(source); err != nil {
			d.Errorf(errAt, "register: %v", err)
			return nil
		}
	}
	file, err := consuldef.ParseServiceFile(source, data, format, false)
	if err == nil {
		err = file.RefusedOnLinux()
	}
	if err == nil {
		err = d.Judge().JudgeServiceFile(file)
	}
	if err != nil {
		if source == "inline" {
			d.ReportInlineErrors(errAt, "register", err)
		} else {
			d.ReportDefinitionErrors(errAt, "register", err)
		}
		return nil
	}
	for _, def := range file.Services {
		d.AddInstance(def, errAt)
	}
	if val.Token != "" {
		d.Use(spec.KindToken, val.Token, f.NodeOf(&val.Token))
	}
	return (&register{source: source, file: file, token: val.Token}).on(d.Node())
}

func (r *register) String() string {
	var names []string
	for _, s := range r.file.Services {
		label := s.Reg.Name
		if s.ID() != s.Reg.Name {
			label = fmt.Sprintf("%s (id %s)", s.Reg.Name, s.ID())
		}
		names = append(names, label)
	}
	what := "service " + strings.Join(names, ", ")
	if len(names) > 1 {
		what = "services " + strings.Join(names, ", ")
	}
	if r.source == "inline" {
		return what
	}
	return fmt.Sprintf("%s from %s", what, r.source)
}

// Beside: a registration needs the agent's API only, so it goes while the
// agent's Connect CA is still coming up.
func (r *register) Beside(pending Step) bool {
	agent, ok := pending.(*startAgent)
	return ok && agent.APIServed()
}

func (r *register) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	stepToken, err := tokenFor(env, r.token)
	if err != nil {
		return err
	}
	if env.External() {
		if err := r.undoable(ctx, env, client); err != nil {
			return err
		}
	}
	sidecarAddrs := make([]string, len(r.file.Services))
	for i, s := range r.file.Services {
		sidecarAddrs[i] = reachableSidecar(env, s.Reg)
		// The definition as the agent reads it, every field kept: the
		// api type would drop some (consuldef.ServiceDef.Body).
		body, err := s.Body(sidecarAddrs[i])
		if err != nil {
			return fmt.Errorf("registering %s: %w", s.ID(), err)
		}
		token := s.Token // the definition's own token, as the agent uses for config files
		if stepToken != "" {
			token = stepToken
		}
		if _, err := client.Raw().Write("/v1/agent/service/register", json.RawMessage(body), nil, (&api.WriteOptions{Token: token}).WithContext(ctx)); err != nil {
			return WithLogs(fmt.Errorf("registering %s: %w", s.ID(), err), spec.AgentName)
		}
	}
	return confirmRegistered(ctx, client, r.file.Services, sidecarAddrs)
}

// undoable, on an existing cluster, refuses to replace a registration
// the agent already has (the runner could not put it back exactly), and
// records that each instance it registers, with its sidecar, is
// deregistered at the end.
func (r *register) undoable(ctx context.Context, env Env, client *api.Client) error {
	services, err := client.Agent().ServicesWithFilterOpts("", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return WithLogs(fmt.Errorf("listing the agent's services before registering: %w", err), spec.AgentName)
	}
	for _, s := range r.file.Services {
		ids := []string{s.ID()}
		if s.HasSidecar() {
			ids = append(ids, s.SidecarID())
		}
		for _, id := range ids {
			if got, ok := services[id]; ok {
				return fmt.Errorf("the agent already has a service with ID %s (%s): registering would replace the cluster's own, "+
					"which the runner could not put back exactly; give the scenario's instance another id", id, got.Service)
			}
		}
	}
	for _, s := range r.file.Services {
		// Deregistering an instance takes the sidecar registered with it
		// along; the sidecar is named too, for one registered otherwise.
		ids := []string{s.ID()}
		if s.HasSidecar() {
			ids = []string{s.SidecarID(), s.ID()}
		}
		env.Undo(fmt.Sprintf("service %s deregistered", strings.Join(ids, " and ")), func(ctx context.Context) error {
			var errs []error
			for _, id := range ids {
				err := client.Agent().ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx))
				var status api.StatusError
				if errors.As(err, &status) && status.Code == http.StatusNotFound {
					continue // gone with its instance
				}
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
	}
	return nil
}

// reachableSidecar is the address given to the sidecar of a service
// registered on a node when its definition leaves it empty or on
// loopback: the node's ("" otherwise: as defined). A sidecar inherits its
// service's address, and other nodes cannot reach 127.0.0.1. The
// definition itself is not changed.
func reachableSidecar(env Env, reg *api.AgentServiceRegistration) string {
	ip, ok := env.NodeAddr(env.Node())
	if !ok || reg.Connect == nil || reg.Connect.SidecarService == nil {
		return ""
	}
	sc := reg.Connect.SidecarService
	if a := sc.Address; a != "" && !isLoopback(a) {
		return ""
	}
	if sc.Address == "" && !isLoopback(reg.Address) {
		return "" // inherits a reachable address, or none: the node's
	}
	why := fmt.Sprintf("its definition said %s", sc.Address)
	if sc.Address == "" {
		why = fmt.Sprintf("it would inherit %s's address, %s", reg.Name, reg.Address)
	}
	env.Notef("the sidecar of %s is advertised at %s, node %s's address (%s, which other nodes cannot reach)", reg.Name, ip, env.Node(), why)
	return ip.String()
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// confirmRegistered checks that the agent holds each instance (and its
// sidecar) under the ID the definition implies, with what the definition
// sets as far as the agent shows it (consuldef.ServiceDef.Disagreements:
// the service's fields, each check's kind, name, interval and timeout),
// so that later steps' assumptions are the agent's truth. sidecarAddrs
// are the addresses given to the sidecars (reachableSidecar); nil when
// none was.
func confirmRegistered(ctx context.Context, client *api.Client, defs []consuldef.ServiceDef, sidecarAddrs []string) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	services, err := client.Agent().ServicesWithFilterOpts("", q)
	if err != nil {
		return WithLogs(fmt.Errorf("listing the agent's services: %w", err), spec.AgentName)
	}
	// Read raw: the api type lacks a check's interval and timeout.
	var checks map[string]consuldef.AgentCheck
	if _, err := client.Raw().Query("/v1/agent/checks", &checks, q); err != nil {
		return WithLogs(fmt.Errorf("listing the agent's checks: %w", err), spec.AgentName)
	}
	for i, s := range defs {
		got, ok := services[s.ID()]
		if !ok || got.Service != s.Reg.Name {
			return WithLogs(fmt.Errorf("the agent does not list service %s (ID %s) after registering it", s.Reg.Name, s.ID()), spec.AgentName)
		}
		if s.HasSidecar() {
			if _, ok := services[s.SidecarID()]; !ok {
				return WithLogs(fmt.Errorf("the agent does not list the sidecar %s of %s after registering it", s.SidecarID(), s.ID()), spec.AgentName)
			}
		}
		addr := ""
		if i < len(sidecarAddrs) {
			addr = sidecarAddrs[i]
		}
		if diff := s.Disagreements(addr, services, checks); len(diff) > 0 {
			return WithLogs(fmt.Errorf("the agent registered %s otherwise than its definition says, and later steps would rely on the definition: %s; "+
				"the definition was passed as the agent reads a config file, so Consul changed it: fix the definition to what Consul keeps", s.ID(), strings.Join(diff, "; ")), spec.AgentName)
		}
	}
	return nil
}

// maxInlineNodes bounds an inline service definition once YAML aliases
// are expanded, so that an alias bomb is refused instead of expanded.
const maxInlineNodes = 10000

// yamlToGeneric converts a YAML value to plain Go values for JSON. Depth and
// size are bounded so that a hostile file cannot exhaust the stack or memory.
func yamlToGeneric(n *yaml.Node, depth int, budget *int) (any, error) {
	if depth > 64 {
		return nil, errors.New("nested too deeply")
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("more than %d values once aliases are expanded", maxInlineNodes)
	}
	n = spec.Resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, kv := range spec.MappingPairs(n) {
			v, err := yamlToGeneric(kv[1], depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[kv[0].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			v, err := yamlToGeneric(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Graph draws the registered instances.
func (r *register) Graph(g *Graph) {
	for _, def := range r.file.Services {
		g.addInstance(def)
	}
}
