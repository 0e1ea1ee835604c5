package consuldef

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"
)

// defaultCheckOutputMaxSize is Consul's checks.DefaultBufSize, the
// output_max_size a config file's check gets when it sets none.
const defaultCheckOutputMaxSize = 4096

// Body is the request body of /v1/agent/service/register that registers
// the definition with every field it sets, as the agent would load it
// from a config file (agent/config.builder.serviceVal and checkVal): its
// checks in one list, checks before check; a check's h2ping_use_tls,
// failures_before_warning and output_max_size defaulted as the agent
// defaults them there; weights completed with 1s; a kind Consul does not
// know read as a typical service's. The api type would drop some fields
// (a check's disable_redirects, output_max_size, os_service, an
// h2ping_use_tls of false). sidecarAddress, when set, is the address
// given to the sidecar (steps.reachableSidecar).
func (s ServiceDef) Body(sidecarAddress string) ([]byte, error) {
	reg := s.registration(sidecarAddress)
	if reg == nil {
		return nil, errors.New("the definition was not read from a file, so it cannot be registered as written")
	}
	return json.Marshal(reg)
}

// registration is the definition as the agent makes it from a config
// file (see Body).
func (s ServiceDef) registration(sidecarAddress string) *consulService {
	reg := normalised(s.def)
	if reg == nil {
		return nil
	}
	// The instance's token goes in the request's header (the step's may
	// replace it); a sidecar's own stays in the body, where the agent
	// takes it to register the sidecar (sidecarServiceFromNodeService).
	reg.Token = nil
	if sidecarAddress != "" && reg.Connect != nil && reg.Connect.SidecarService != nil {
		reg.Connect.SidecarService.Address = &sidecarAddress
	}
	return reg
}

// knownKinds are the service kinds the agent's config builder keeps
// (serviceKindVal); any other is read as a typical service.
var knownKinds = []string{"connect-proxy", "mesh-gateway", "terminating-gateway", "ingress-gateway", "api-gateway"}

func normalised(v *consulService) *consulService {
	if v == nil {
		return nil
	}
	n := *v
	n.Checks = nil
	for _, c := range v.Checks {
		n.Checks = append(n.Checks, normalisedCheck(c))
	}
	if v.Check != nil {
		n.Checks = append(n.Checks, normalisedCheck(*v.Check))
	}
	n.Check = nil
	if n.Kind != nil && !slices.Contains(knownKinds, *n.Kind) {
		n.Kind = nil
	}
	w := consulWeights{Passing: ptr(1), Warning: ptr(1)}
	if v.Weights != nil {
		w.Passing = cmpOr(v.Weights.Passing, w.Passing)
		w.Warning = cmpOr(v.Weights.Warning, w.Warning)
	}
	n.Weights = &w
	if v.Connect != nil {
		c := *v.Connect
		c.SidecarService = normalised(v.Connect.SidecarService)
		n.Connect = &c
	}
	return &n
}

func normalisedCheck(c consulCheck) consulCheck {
	if deref(c.H2PING) != "" && c.H2PingUseTLS == nil {
		c.H2PingUseTLS = ptr(true)
	}
	if c.FailuresBeforeWarning == nil {
		c.FailuresBeforeWarning = c.FailuresBeforeCritical
	}
	if c.OutputMaxSize == nil {
		c.OutputMaxSize = ptr(defaultCheckOutputMaxSize)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func cmpOr[T any](p, otherwise *T) *T {
	if p != nil {
		return p
	}
	return otherwise
}

// AgentCheck is a check as /v1/agent/checks lists it (Consul's
// structs.HealthCheck): the agent shows what kind of check it made, and
// its interval and timeout, but not the rest of its definition.
type AgentCheck struct {
	Name, Notes, ServiceID, Type, Interval, Timeout string
}

// CheckIDs are the IDs the agent gives the definition's checks, in its
// order: a check's id, else service:SERVICE-ID, with :N (from 1) when
// the service has several (agent.addServiceInternal).
func CheckIDs(serviceID string, checks []*api.AgentServiceCheck) []string {
	ids := make([]string, len(checks))
	for i, c := range checks {
		ids[i] = c.CheckID
		if ids[i] == "" {
			ids[i] = "service:" + serviceID
			if len(checks) > 1 {
				ids[i] += ":" + strconv.Itoa(i+1)
			}
		}
	}
	return ids
}

// Disagreements compares what the agent registered for the definition
// (services from /v1/agent/services, checks from /v1/agent/checks) with
// what it was given (Body, with the same sidecarAddress): each field the
// definition sets that the agent shows. None means Consul has it as
// written.
func (s ServiceDef) Disagreements(sidecarAddress string, services map[string]*api.AgentService, checks map[string]AgentCheck) []string {
	reg := s.registration(sidecarAddress)
	if reg == nil {
		return nil
	}
	var out []string
	out = append(out, compareService("service "+s.ID(), reg, services[s.ID()], true)...)
	out = append(out, compareChecks(s.ID(), reg.Checks, checks)...)
	if sc := reg.Connect; sc != nil && sc.SidecarService != nil {
		out = append(out, compareService("the sidecar "+s.SidecarID(), sc.SidecarService, services[s.SidecarID()], false)...)
		out = append(out, compareChecks(s.SidecarID(), sc.SidecarService.Checks, checks)...)
	}
	return out
}

// compareService compares the fields reg sets with the agent's got; the
// agent fills in a sidecar's kind, name and proxy, so those count only
// for an instance (instance).
func compareService(what string, reg *consulService, got *api.AgentService, instance bool) []string {
	if got == nil {
		return []string{what + " is not registered"}
	}
	var out []string
	differ := func(field string, has, want any) {
		out = append(out, fmt.Sprintf("%s: the agent has %s %v, the definition %v", what, field, has, want))
	}
	if instance && string(got.Kind) != deref(reg.Kind) {
		differ("kind", strconv.Quote(string(got.Kind)), strconv.Quote(deref(reg.Kind)))
	}
	if reg.Name != nil && got.Service != *reg.Name {
		differ("name", got.Service, *reg.Name)
	}
	if len(reg.Tags) > 0 && !slices.Equal(got.Tags, reg.Tags) {
		differ("tags", got.Tags, reg.Tags)
	}
	if reg.Port != nil && got.Port != *reg.Port {
		differ("port", got.Port, *reg.Port)
	}
	if reg.Address != nil && got.Address != *reg.Address {
		differ("address", strconv.Quote(got.Address), strconv.Quote(*reg.Address))
	}
	if reg.SocketPath != nil && got.SocketPath != *reg.SocketPath {
		differ("socket_path", got.SocketPath, *reg.SocketPath)
	}
	for _, k := range slices.Sorted(maps.Keys(reg.Meta)) {
		if v, ok := got.Meta[k]; !ok || v != reg.Meta[k] {
			differ("meta."+k, strconv.Quote(v), strconv.Quote(reg.Meta[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(reg.TaggedAddresses)) {
		want, has := reg.TaggedAddresses[k], got.TaggedAddresses[k]
		if want.Address != nil && has.Address != *want.Address || want.Port != nil && has.Port != *want.Port {
			differ("tagged_addresses."+k, fmt.Sprintf("%s:%d", has.Address, has.Port), fmt.Sprintf("%s:%d", deref(want.Address), deref(want.Port)))
		}
	}
	if reg.EnableTagOverride != nil && got.EnableTagOverride != *reg.EnableTagOverride {
		differ("enable_tag_override", got.EnableTagOverride, *reg.EnableTagOverride)
	}
	if w := reg.Weights; got.Weights.Passing != *w.Passing || got.Weights.Warning != *w.Warning {
		differ("weights", fmt.Sprintf("passing %d, warning %d", got.Weights.Passing, got.Weights.Warning), fmt.Sprintf("passing %d, warning %d", *w.Passing, *w.Warning))
	}
	if reg.Connect != nil && reg.Connect.Native != nil && *reg.Connect.Native != (got.Connect != nil && got.Connect.Native) {
		differ("connect.native", !*reg.Connect.Native, *reg.Connect.Native)
	}
	if reg.Proxy != nil {
		out = append(out, compareProxy(what, reg.Proxy, got.Proxy, instance)...)
	}
	return out
}

func compareProxy(what string, reg *consulProxy, got *api.AgentServiceConnectProxyConfig, instance bool) []string {
	if got == nil {
		return []string{what + ": the agent has no proxy configuration, the definition has one"}
	}
	var out []string
	differ := func(field string, has, want any) {
		out = append(out, fmt.Sprintf("%s: the agent has proxy.%s %v, the definition %v", what, field, has, want))
	}
	if instance {
		if reg.DestinationServiceName != nil && got.DestinationServiceName != *reg.DestinationServiceName {
			differ("destination_service_name", got.DestinationServiceName, *reg.DestinationServiceName)
		}
		if reg.DestinationServiceID != nil && got.DestinationServiceID != *reg.DestinationServiceID {
			differ("destination_service_id", got.DestinationServiceID, *reg.DestinationServiceID)
		}
	}
	if reg.LocalServicePort != nil && got.LocalServicePort != *reg.LocalServicePort {
		differ("local_service_port", got.LocalServicePort, *reg.LocalServicePort)
	}
	if reg.LocalServiceAddress != nil && got.LocalServiceAddress != *reg.LocalServiceAddress {
		differ("local_service_address", got.LocalServiceAddress, *reg.LocalServiceAddress)
	}
	upstreams := got.Upstreams
	// In transparent mode the agent appends the upstreams central config
	// names (service-defaults' upstream_config) after the definition's
	// (configentry.MergeServiceConfig); they bind nothing locally. The
	// agent's API does not show them as centrally configured.
	bindsLocally := func(u api.Upstream) bool {
		return u.LocalBindPort != 0 || u.LocalBindAddress != "" || u.LocalBindSocketPath != ""
	}
	if n := len(reg.Upstreams); got.Mode == api.ProxyModeTransparent && len(upstreams) > n && !slices.ContainsFunc(upstreams[n:], bindsLocally) {
		upstreams = upstreams[:n]
	}
	if len(upstreams) != len(reg.Upstreams) {
		differ("upstreams", len(upstreams), len(reg.Upstreams))
		return out
	}
	for i, u := range reg.Upstreams {
		has := upstreams[i]
		at := fmt.Sprintf("upstreams[%d].", i)
		if u.DestinationName != nil && has.DestinationName != *u.DestinationName {
			differ(at+"destination_name", has.DestinationName, *u.DestinationName)
		}
		if u.LocalBindPort != nil && has.LocalBindPort != *u.LocalBindPort {
			differ(at+"local_bind_port", has.LocalBindPort, *u.LocalBindPort)
		}
		if u.LocalBindAddress != nil && has.LocalBindAddress != *u.LocalBindAddress {
			differ(at+"local_bind_address", has.LocalBindAddress, *u.LocalBindAddress)
		}
		if u.Datacenter != nil && has.Datacenter != *u.Datacenter {
			differ(at+"datacenter", has.Datacenter, *u.Datacenter)
		}
	}
	return out
}

// compareChecks compares the checks of service serviceID, in the
// agent's order, with what the agent lists: each is there, of the kind
// its definition makes, with the name, notes, interval and timeout it
// sets.
func compareChecks(serviceID string, defs []consulCheck, checks map[string]AgentCheck) []string {
	asAPI := make([]*api.AgentServiceCheck, len(defs))
	for i := range defs {
		asAPI[i] = checkToAPI(&defs[i])
	}
	var out []string
	for i, id := range CheckIDs(serviceID, asAPI) {
		c, want := checks[id], defs[i]
		what := fmt.Sprintf("check %s of %s", id, serviceID)
		if _, ok := checks[id]; !ok {
			out = append(out, what+" is not registered")
			continue
		}
		if c.ServiceID != serviceID {
			out = append(out, fmt.Sprintf("%s: the agent has it for service %q", what, c.ServiceID))
		}
		if t := checkType(want); c.Type != t {
			out = append(out, fmt.Sprintf("%s: the agent made a %q check, the definition a %q one", what, c.Type, t))
		}
		if want.Name != nil && c.Name != *want.Name {
			out = append(out, fmt.Sprintf("%s: the agent has name %q, the definition %q", what, c.Name, *want.Name))
		}
		if want.Notes != nil && c.Notes != *want.Notes {
			out = append(out, fmt.Sprintf("%s: the agent has notes %q, the definition %q", what, c.Notes, *want.Notes))
		}
		for _, d := range []struct {
			field     string
			has, want string
		}{{"interval", c.Interval, deref(want.Interval)}, {"timeout", c.Timeout, deref(want.Timeout)}} {
			if w, err := time.ParseDuration(d.want); err == nil && w > 0 {
				if h, _ := time.ParseDuration(d.has); h != w {
					out = append(out, fmt.Sprintf("%s: the agent has %s %q, the definition %q", what, d.field, d.has, d.want))
				}
			}
		}
	}
	return out
}

// checkType is the kind of check the agent makes of a definition, as
// Consul's CheckType.Type decides it.
func checkType(c consulCheck) string {
	positive := func(s *string) bool {
		d, err := time.ParseDuration(deref(s))
		return err == nil && d > 0
	}
	interval, script := positive(c.Interval), len(c.ScriptArgs) > 0
	switch {
	case deref(c.GRPC) != "" && interval:
		return "grpc"
	case deref(c.HTTP) != "" && interval:
		return "http"
	case positive(c.TTL):
		return "ttl"
	case deref(c.TCP) != "" && interval:
		return "tcp"
	case deref(c.UDP) != "" && interval:
		return "udp"
	case deref(c.AliasNode) != "" || deref(c.AliasService) != "":
		return "alias"
	case script && deref(c.DockerContainerID) != "" && interval:
		return "docker"
	case script:
		return "script"
	case deref(c.H2PING) != "" && interval:
		return "h2ping"
	case deref(c.OSService) != "" && interval:
		return "os_service"
	}
	return ""
}
