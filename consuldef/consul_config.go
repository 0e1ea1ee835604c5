package consuldef

// The types and decode hooks below mirror Consul v1.15.4's agent/config
// (config.go, config_oss.go) and lib/decode (decode.go), so that a service
// definition is read by the same rules the agent applies to its config
// files: the same mapstructure field names, the same aliases, the same
// HCL block flattening and the same "invalid config key" for anything
// else. Copied from github.com/hashicorp/consul (MPL-2.0) and kept to the
// parts a service definition uses; `consul validate` remains the judge
// when a consul binary is at hand (see consul_verdict.go). Their json
// tags are the names /v1/agent/service/register decodes (Consul's
// structs.ServiceDefinition and CheckType), so that a definition is
// registered with every field it sets (register_body.go); "-" marks what
// that endpoint has no field for, which the agent drops from a config
// file too (a service check's token, expose.port) or takes from the
// request (the service's token).

import (
	"reflect"
	"strings"

	"github.com/mitchellh/reflectwalk"
)

// consulFile is the part of an agent config file that defines services.
type consulFile struct {
	Service  *consulService  `mapstructure:"service"`
	Services []consulService `mapstructure:"services"`
	// An agent config's checks apart from its services (a service's by
	// service_id, else the node's).
	Check  *consulCheck  `mapstructure:"check"`
	Checks []consulCheck `mapstructure:"checks"`
}

type consulService struct {
	Kind              *string                  `mapstructure:"kind" json:"Kind,omitempty"`
	ID                *string                  `mapstructure:"id" json:"ID,omitempty"`
	Name              *string                  `mapstructure:"name" json:"Name,omitempty"`
	Tags              []string                 `mapstructure:"tags" json:"Tags,omitempty"`
	Address           *string                  `mapstructure:"address" json:"Address,omitempty"`
	TaggedAddresses   map[string]consulAddress `mapstructure:"tagged_addresses" json:"TaggedAddresses,omitempty"`
	Meta              map[string]string        `mapstructure:"meta" json:"Meta,omitempty"`
	Port              *int                     `mapstructure:"port" json:"Port,omitempty"`
	SocketPath        *string                  `mapstructure:"socket_path" json:"SocketPath,omitempty"`
	Check             *consulCheck             `mapstructure:"check" json:"Check,omitempty"`
	Checks            []consulCheck            `mapstructure:"checks" json:"Checks,omitempty"`
	Token             *string                  `mapstructure:"token" json:"Token,omitempty"`
	Weights           *consulWeights           `mapstructure:"weights" json:"Weights,omitempty"`
	EnableTagOverride *bool                    `mapstructure:"enable_tag_override" json:"EnableTagOverride,omitempty"`
	Proxy             *consulProxy             `mapstructure:"proxy" json:"Proxy,omitempty"`
	Connect           *consulConnect           `mapstructure:"connect" json:"Connect,omitempty"`
}

type consulAddress struct {
	Address *string `mapstructure:"address" json:"Address,omitempty"`
	Port    *int    `mapstructure:"port" json:"Port,omitempty"`
}

type consulWeights struct {
	Passing *int `mapstructure:"passing" json:"Passing,omitempty"`
	Warning *int `mapstructure:"warning" json:"Warning,omitempty"`
}

type consulCheck struct {
	ID                             *string             `mapstructure:"id" json:"CheckID,omitempty"`
	Name                           *string             `mapstructure:"name" json:"Name,omitempty"`
	Notes                          *string             `mapstructure:"notes" json:"Notes,omitempty"`
	ServiceID                      *string             `mapstructure:"service_id" alias:"serviceid" json:"-"`
	Token                          *string             `mapstructure:"token" json:"-"`
	Status                         *string             `mapstructure:"status" json:"Status,omitempty"`
	ScriptArgs                     []string            `mapstructure:"args" alias:"scriptargs" json:"ScriptArgs,omitempty"`
	HTTP                           *string             `mapstructure:"http" json:"HTTP,omitempty"`
	Header                         map[string][]string `mapstructure:"header" json:"Header,omitempty"`
	Method                         *string             `mapstructure:"method" json:"Method,omitempty"`
	Body                           *string             `mapstructure:"body" json:"Body,omitempty"`
	DisableRedirects               *bool               `mapstructure:"disable_redirects" json:"DisableRedirects,omitempty"`
	OutputMaxSize                  *int                `mapstructure:"output_max_size" json:"OutputMaxSize,omitempty"`
	TCP                            *string             `mapstructure:"tcp" json:"TCP,omitempty"`
	UDP                            *string             `mapstructure:"udp" json:"UDP,omitempty"`
	Interval                       *string             `mapstructure:"interval" json:"Interval,omitempty"`
	DockerContainerID              *string             `mapstructure:"docker_container_id" alias:"dockercontainerid" json:"DockerContainerID,omitempty"`
	Shell                          *string             `mapstructure:"shell" json:"Shell,omitempty"`
	GRPC                           *string             `mapstructure:"grpc" json:"GRPC,omitempty"`
	GRPCUseTLS                     *bool               `mapstructure:"grpc_use_tls" json:"GRPCUseTLS,omitempty"`
	TLSServerName                  *string             `mapstructure:"tls_server_name" json:"TLSServerName,omitempty"`
	TLSSkipVerify                  *bool               `mapstructure:"tls_skip_verify" alias:"tlsskipverify" json:"TLSSkipVerify,omitempty"`
	AliasNode                      *string             `mapstructure:"alias_node" json:"AliasNode,omitempty"`
	AliasService                   *string             `mapstructure:"alias_service" json:"AliasService,omitempty"`
	Timeout                        *string             `mapstructure:"timeout" json:"Timeout,omitempty"`
	TTL                            *string             `mapstructure:"ttl" json:"TTL,omitempty"`
	H2PING                         *string             `mapstructure:"h2ping" json:"H2PING,omitempty"`
	H2PingUseTLS                   *bool               `mapstructure:"h2ping_use_tls" json:"H2PingUseTLS,omitempty"`
	OSService                      *string             `mapstructure:"os_service" json:"OSService,omitempty"`
	SuccessBeforePassing           *int                `mapstructure:"success_before_passing" json:"SuccessBeforePassing,omitempty"`
	FailuresBeforeWarning          *int                `mapstructure:"failures_before_warning" json:"FailuresBeforeWarning,omitempty"`
	FailuresBeforeCritical         *int                `mapstructure:"failures_before_critical" json:"FailuresBeforeCritical,omitempty"`
	DeregisterCriticalServiceAfter *string             `mapstructure:"deregister_critical_service_after" alias:"deregistercriticalserviceafter" json:"DeregisterCriticalServiceAfter,omitempty"`
}

type consulConnect struct {
	Native         *bool          `mapstructure:"native" json:"Native,omitempty"`
	SidecarService *consulService `mapstructure:"sidecar_service" json:"SidecarService,omitempty"`
}

type consulProxy struct {
	DestinationServiceName *string                 `mapstructure:"destination_service_name" json:"DestinationServiceName,omitempty"`
	DestinationServiceID   *string                 `mapstructure:"destination_service_id" json:"DestinationServiceID,omitempty"`
	LocalServiceAddress    *string                 `mapstructure:"local_service_address" json:"LocalServiceAddress,omitempty"`
	LocalServicePort       *int                    `mapstructure:"local_service_port" json:"LocalServicePort,omitempty"`
	LocalServiceSocketPath string                  `mapstructure:"local_service_socket_path" json:"LocalServiceSocketPath,omitempty"`
	TransparentProxy       *consulTransparentProxy `mapstructure:"transparent_proxy" json:"TransparentProxy,omitempty"`
	Mode                   *string                 `mapstructure:"mode" json:"Mode,omitempty"`
	Config                 map[string]interface{}  `mapstructure:"config" json:"Config,omitempty"`
	Upstreams              []consulUpstream        `mapstructure:"upstreams" json:"Upstreams,omitempty"`
	MeshGateway            *consulMeshGateway      `mapstructure:"mesh_gateway" json:"MeshGateway,omitempty"`
	Expose                 *consulExpose           `mapstructure:"expose" json:"Expose,omitempty"`
}

type consulUpstream struct {
	DestinationType      *string                `mapstructure:"destination_type" json:"DestinationType,omitempty"`
	DestinationNamespace *string                `mapstructure:"destination_namespace" json:"DestinationNamespace,omitempty"`
	DestinationPartition *string                `mapstructure:"destination_partition" json:"DestinationPartition,omitempty"`
	DestinationPeer      *string                `mapstructure:"destination_peer" json:"DestinationPeer,omitempty"`
	DestinationName      *string                `mapstructure:"destination_name" json:"DestinationName,omitempty"`
	Datacenter           *string                `mapstructure:"datacenter" json:"Datacenter,omitempty"`
	LocalBindAddress     *string                `mapstructure:"local_bind_address" json:"LocalBindAddress,omitempty"`
	LocalBindPort        *int                   `mapstructure:"local_bind_port" json:"LocalBindPort,omitempty"`
	LocalBindSocketPath  *string                `mapstructure:"local_bind_socket_path" json:"LocalBindSocketPath,omitempty"`
	LocalBindSocketMode  *string                `mapstructure:"local_bind_socket_mode" json:"LocalBindSocketMode,omitempty"`
	Config               map[string]interface{} `mapstructure:"config" json:"Config,omitempty"`
	MeshGateway          *consulMeshGateway     `mapstructure:"mesh_gateway" json:"MeshGateway,omitempty"`
}

type consulMeshGateway struct {
	Mode *string `mapstructure:"mode" json:"Mode,omitempty"`
}

type consulTransparentProxy struct {
	OutboundListenerPort *int  `mapstructure:"outbound_listener_port" json:"OutboundListenerPort,omitempty"`
	DialedDirectly       *bool `mapstructure:"dialed_directly" json:"DialedDirectly,omitempty"`
}

type consulExpose struct {
	Checks *bool              `mapstructure:"checks" json:"Checks,omitempty"`
	Port   *int               `mapstructure:"port" json:"-"`
	Paths  []consulExposePath `mapstructure:"paths" json:"Paths,omitempty"`
}

type consulExposePath struct {
	ListenerPort  *int    `mapstructure:"listener_port" json:"ListenerPort,omitempty"`
	Path          *string `mapstructure:"path" json:"Path,omitempty"`
	Protocol      *string `mapstructure:"protocol" json:"Protocol,omitempty"`
	LocalPathPort *int    `mapstructure:"local_path_port" json:"LocalPathPort,omitempty"`
}

// hookTranslateKeys is lib/decode.HookTranslateKeys: a key spelled as one
// of a field's `alias` tags (compared case-insensitively) is read as the
// field's canonical key, unless the canonical key is also present.
func hookTranslateKeys(_, to reflect.Type, data interface{}) (interface{}, error) {
	if to.Kind() != reflect.Struct {
		return data, nil
	}
	source, ok := data.(map[string]interface{})
	if !ok {
		return data, nil
	}
	rules := translationsForType(to)
	if len(rules) == 0 {
		return data, nil
	}
	result := make(map[string]interface{}, len(source))
	for k, v := range source {
		canonKey, ok := rules[strings.ToLower(k)]
		if !ok {
			result[k] = v
			continue
		}
		if canonValue, ok := source[canonKey]; ok {
			result[canonKey] = canonValue
			continue
		}
		result[canonKey] = v
	}
	return result, nil
}

func translationsForType(to reflect.Type) map[string]string {
	translations := map[string]string{}
	for i := 0; i < to.NumField(); i++ {
		field := to.Field(i)
		tag, ok := field.Tag.Lookup("alias")
		if !ok {
			continue
		}
		name := field.Name
		if ms, ok := field.Tag.Lookup("mapstructure"); ok && strings.Split(ms, ",")[0] != "" {
			name = strings.Split(ms, ",")[0]
		}
		for _, alias := range strings.Split(tag, ",") {
			translations[strings.ToLower(alias)] = strings.ToLower(name)
		}
	}
	return translations
}

// hookWeakDecodeFromSlice is lib/decode.HookWeakDecodeFromSlice: HCL
// stores a block as a list of one map; where a single value is expected,
// the one item is unpacked.
func hookWeakDecodeFromSlice(from, to reflect.Type, data interface{}) (interface{}, error) {
	if from.Kind() == reflect.Slice && (to.Kind() == reflect.Slice || to.Kind() == reflect.Array) {
		return data, nil
	}
	switch d := data.(type) {
	case []map[string]interface{}:
		switch {
		case len(d) != 1:
			return data, nil
		case to == typeOfEmptyInterface:
			return unSlice(d[0])
		default:
			return d[0], nil
		}
	case []interface{}:
		switch {
		case len(d) != 1:
			return data, nil
		case to == typeOfEmptyInterface:
			return unSlice(d[0])
		default:
			return d[0], nil
		}
	}
	return data, nil
}

var typeOfEmptyInterface = reflect.TypeOf((*interface{})(nil)).Elem()

func unSlice(data interface{}) (interface{}, error) {
	err := reflectwalk.Walk(data, &unSliceWalker{})
	return data, err
}

type unSliceWalker struct{}

func (u *unSliceWalker) Map(_ reflect.Value) error { return nil }

func (u *unSliceWalker) MapElem(m, k, v reflect.Value) error {
	if !v.IsValid() || v.Kind() != reflect.Interface {
		return nil
	}
	v = v.Elem()
	if v.Kind() != reflect.Slice || v.Len() != 1 {
		return nil
	}
	first := v.Index(0)
	if !first.Type().AssignableTo(m.Type().Elem()) {
		return nil
	}
	m.SetMapIndex(k, first)
	return nil
}
