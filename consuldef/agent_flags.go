package consuldef

import (
	"fmt"
	"strconv"
	"strings"
)

// AgentArgs is what a `consul agent` command line says of where the
// agent's configuration comes from, parsed as Consul v1.15.4 parses it
// (agent/config/flags.go, Go's flag package): -config-file and
// -config-dir add to one list, in argument order; -config-format is the
// format of every file in it; -hcl values come after all files.
type AgentArgs struct {
	ConfigPaths  []AgentArg // -config-file and -config-dir, in order
	ConfigFormat *AgentArg  // the last -config-format; nil when none
	HCL          []AgentArg // -hcl, in order
}

// AgentArg is one flag's value on the command line.
type AgentArg struct {
	Flag  string // its name, without dashes
	Value string
	Index int  // the argument that holds the value
	Eq    bool // given as -flag=value, in the one argument
}

// WithValue is the argument that holds the flag's value, with value
// instead.
func (a AgentArg) WithValue(arg, value string) string {
	if a.Eq {
		name, _, _ := strings.Cut(arg, "=")
		return name + "=" + value
	}
	return value
}

// AgentArgError is an argument Consul would refuse.
type AgentArgError struct {
	Index int // the argument at fault
	Msg   string
}

func (e *AgentArgError) Error() string { return e.Msg }

// agentBoolFlags are consul agent's flags that take no value (a value may
// follow an '=').
var agentBoolFlags = map[string]bool{
	"auto-reload-config": true, "bootstrap": true, "dev": true, "disable-host-node-id": true,
	"disable-keyring-file": true, "enable-local-script-checks": true, "enable-script-checks": true,
	"log-json": true, "non-voting-server": true, "read-replica": true, "rejoin": true,
	"server": true, "syslog": true, "ui": true,
}

// agentValueFlags are consul agent's flags that take a value.
var agentValueFlags = map[string]bool{
	"advertise": true, "advertise-wan": true, "allow-write-http-from": true, "alt-domain": true,
	"bind": true, "bootstrap-expect": true, "check_output_max_size": true, "client": true,
	"config-dir": true, "config-file": true, "config-format": true, "data-dir": true,
	"datacenter": true, "default-query-time": true, "dns-port": true, "domain": true,
	"encrypt": true, "grpc-port": true, "grpc-tls-port": true, "hcl": true, "http-port": true,
	"https-port": true, "join": true, "join-wan": true, "log-file": true, "log-level": true,
	"log-rotate-bytes": true, "log-rotate-duration": true, "log-rotate-max-files": true,
	"max-query-time": true, "node": true, "node-id": true, "node-meta": true, "pid-file": true,
	"primary-gateway": true, "protocol": true, "raft-protocol": true, "recursor": true,
	"retry-interval": true, "retry-interval-wan": true, "retry-join": true, "retry-join-wan": true,
	"retry-max": true, "retry-max-wan": true, "segment": true, "serf-lan-allowed-cidrs": true,
	"serf-lan-bind": true, "serf-lan-port": true, "serf-wan-allowed-cidrs": true,
	"serf-wan-bind": true, "serf-wan-port": true, "server-port": true, "ui-content-path": true,
	"ui-dir": true,
}

// ParseAgentArgs parses args, flags of `consul agent`, the way the agent
// does: one or two dashes, -flag value or -flag=value, a flag without a
// value for the boolean ones, "--" or a non-flag ending the flags. An
// unknown flag, a missing value and an extra argument are refused, as
// Consul refuses them. Values other than booleans are left to Consul.
func ParseAgentArgs(args []string) (AgentArgs, error) {
	var out AgentArgs
	for i := 0; i < len(args); i++ {
		s := args[i]
		if len(s) < 2 || s[0] != '-' {
			return out, &AgentArgError{i, fmt.Sprintf("%q is not a flag, and consul agent takes no other arguments (it refuses them)", s)}
		}
		dashes := 1
		if s[1] == '-' {
			dashes++
			if len(s) == 2 {
				if i+1 < len(args) {
					return out, &AgentArgError{i + 1, fmt.Sprintf("%q follows \"--\", and consul agent takes no other arguments (it refuses them)", args[i+1])}
				}
				return out, nil
			}
		}
		name, value, eq := strings.Cut(s[dashes:], "=")
		if name == "" || name[0] == '-' || name[0] == '=' {
			return out, &AgentArgError{i, fmt.Sprintf("bad flag syntax: %s", s)}
		}
		switch {
		case agentBoolFlags[name]:
			if eq {
				if _, err := strconv.ParseBool(value); err != nil {
					return out, &AgentArgError{i, fmt.Sprintf("invalid boolean value %q for -%s", value, name)}
				}
			}
			continue
		case !agentValueFlags[name]:
			return out, &AgentArgError{i, fmt.Sprintf("flag provided but not defined: -%s (consul agent has no such flag)", name)}
		}
		arg := AgentArg{Flag: name, Value: value, Index: i, Eq: eq}
		if !eq {
			if i+1 == len(args) {
				return out, &AgentArgError{i, fmt.Sprintf("flag needs an argument: -%s", name)}
			}
			i++
			arg.Value, arg.Index = args[i], i
		}
		switch name {
		case "config-file", "config-dir":
			out.ConfigPaths = append(out.ConfigPaths, arg)
		case "config-format":
			out.ConfigFormat = &arg
		case "hcl":
			out.HCL = append(out.HCL, arg)
		}
	}
	return out, nil
}

// Format is the -config-format value ("" when none).
func (a AgentArgs) Format() string {
	if a.ConfigFormat == nil {
		return ""
	}
	return a.ConfigFormat.Value
}

// Values lists the flags' values.
func Values(args []AgentArg) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}
