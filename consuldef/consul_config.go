package consuldef

// The types and decode hooks below mirror Consul v1.15.4's agent/config
// (config.go, config_oss.go) and lib/decode (decode.go), so that a service
// definition is read by the same rules the agent applies to its config
// files: the same mapstructure field names, the same aliases, the same
// HCL block flattening and the same "invalid config key" for anything
// else. Copied from github.com/hashicorp/consul (MPL-2.0) and kept to the
// parts a service definition uses; `consul validate` remains the judge
// when a consul binary is at hand (see consul_verdict.go).

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
	Kind              *string                  `mapstructure:"kind"`
	ID                *string                  `mapstructure:"id"`
	Name              *string                  `mapstructure:"name"`
	Tags              []string                 `mapstructure:"tags"`
	Address           *string                  `mapstructure:"address"`
	TaggedAddresses   map[string]consulAddress `mapstructure:"tagged_addresses"`
	Meta              map[string]string        `mapstructure:"meta"`
	Port              *int                     `mapstructure:"port"`
	SocketPath        *string                  `mapstructure:"socket_path"`
	Check             *consulCheck             `mapstructure:"check"`
	Checks            []consulCheck            `mapstructure:"checks"`
	Token             *string                  `mapstructure:"token"`
	Weights           *consulWeights           `mapstructure:"weights"`
	EnableTagOverride *bool                    `mapstructure:"enable_tag_override"`
	Proxy             *consulProxy             `mapstructure:"proxy"`
	Connect           *consulConnect           `mapstructure:"connect"`
}

type consulAddress struct {
	Address *string `mapstructure:"address"`
	Port    *int    `mapstructure:"port"`
}

type consulWeights struct {
	Passing *int `mapstructure:"passing"`
	Warning *int `mapstructure:"warning"`
}

type consulCheck struct {
	ID                             *string             `mapstructure:"id"`
	Name                           *string             `mapstructure:"name"`
	Notes                          *string             `mapstructure:"notes"`
	ServiceID                      *string             `mapstructure:"service_id" alias:"serviceid"`
	Token                          *string             `mapstructure:"token"`
	Status                         *string             `mapstructure:"status"`
	ScriptArgs                     []string            `mapstructure:"args" alias:"scriptargs"`
	HTTP                           *string             `mapstructure:"http"`
	Header                         map[string][]string `mapstructure:"header"`
	Method                         *string             `mapstructure:"method"`
	Body                           *string             `mapstructure:"body"`
	DisableRedirects               *bool               `mapstructure:"disable_redirects"`
	OutputMaxSize                  *int                `mapstructure:"output_max_size"`
	TCP                            *string             `mapstructure:"tcp"`
	UDP                            *string             `mapstructure:"udp"`
	Interval                       *string             `mapstructure:"interval"`
	DockerContainerID              *string             `mapstructure:"docker_container_id" alias:"dockercontainerid"`
	Shell                          *string             `mapstructure:"shell"`
	GRPC                           *string             `mapstructure:"grpc"`
	GRPCUseTLS                     *bool               `mapstructure:"grpc_use_tls"`
	TLSServerName                  *string             `mapstructure:"tls_server_name"`
	TLSSkipVerify                  *bool               `mapstructure:"tls_skip_verify" alias:"tlsskipverify"`
	AliasNode                      *string             `mapstructure:"alias_node"`
	AliasService                   *string             `mapstructure:"alias_service"`
	Timeout                        *string             `mapstructure:"timeout"`
	TTL                            *string             `mapstructure:"ttl"`
	H2PING                         *string             `mapstructure:"h2ping"`
	H2PingUseTLS                   *bool               `mapstructure:"h2ping_use_tls"`
	OSService                      *string             `mapstructure:"os_service"`
	SuccessBeforePassing           *int                `mapstructure:"success_before_passing"`
	FailuresBeforeWarning          *int                `mapstructure:"failures_before_warning"`
	FailuresBeforeCritical         *int                `mapstructure:"failures_before_critical"`
	DeregisterCriticalServiceAfter *string             `mapstructure:"deregister_critical_service_after" alias:"deregistercriticalserviceafter"`
}

type consulConnect struct {
	Native         *bool          `mapstructure:"native"`
	SidecarService *consulService `mapstructure:"sidecar_service"`
}

type consulProxy struct {
	DestinationServiceName *string                 `mapstructure:"destination_service_name"`
	DestinationServiceID   *string                 `mapstructure:"destination_service_id"`
	LocalServiceAddress    *string                 `mapstructure:"local_service_address"`
	LocalServicePort       *int                    `mapstructure:"local_service_port"`
	LocalServiceSocketPath string                  `mapstructure:"local_service_socket_path"`
	TransparentProxy       *consulTransparentProxy `mapstructure:"transparent_proxy"`
	Mode                   *string                 `mapstructure:"mode"`
	Config                 map[string]interface{}  `mapstructure:"config"`
	Upstreams              []consulUpstream        `mapstructure:"upstreams"`
	MeshGateway            *consulMeshGateway      `mapstructure:"mesh_gateway"`
	Expose                 *consulExpose           `mapstructure:"expose"`
}

type consulUpstream struct {
	DestinationType      *string                `mapstructure:"destination_type"`
	DestinationNamespace *string                `mapstructure:"destination_namespace"`
	DestinationPartition *string                `mapstructure:"destination_partition"`
	DestinationPeer      *string                `mapstructure:"destination_peer"`
	DestinationName      *string                `mapstructure:"destination_name"`
	Datacenter           *string                `mapstructure:"datacenter"`
	LocalBindAddress     *string                `mapstructure:"local_bind_address"`
	LocalBindPort        *int                   `mapstructure:"local_bind_port"`
	LocalBindSocketPath  *string                `mapstructure:"local_bind_socket_path"`
	LocalBindSocketMode  *string                `mapstructure:"local_bind_socket_mode"`
	Config               map[string]interface{} `mapstructure:"config"`
	MeshGateway          *consulMeshGateway     `mapstructure:"mesh_gateway"`
}

type consulMeshGateway struct {
	Mode *string `mapstructure:"mode"`
}

type consulTransparentProxy struct {
	OutboundListenerPort *int  `mapstructure:"outbound_listener_port"`
	DialedDirectly       *bool `mapstructure:"dialed_directly"`
}

type consulExpose struct {
	Checks *bool              `mapstructure:"checks"`
	Port   *int               `mapstructure:"port"`
	Paths  []consulExposePath `mapstructure:"paths"`
}

type consulExposePath struct {
	ListenerPort  *int    `mapstructure:"listener_port"`
	Path          *string `mapstructure:"path"`
	Protocol      *string `mapstructure:"protocol"`
	LocalPathPort *int    `mapstructure:"local_path_port"`
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
