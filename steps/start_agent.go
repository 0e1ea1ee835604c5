package steps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/wait"
)

func init() {
	Register(Type{
		Name:    "start-agent",
		Summary: "starts `consul agent -dev` and waits until it has a leader and an active Connect CA root",
		Fields:  "{config-dir, args, node}, or {}",
		Example: `- start-agent: {args: [-hcl, 'performance { rpc_hold_timeout = "1s" }']}`,
		Timeout: 60 * time.Second,
		Decode:  decodeStartAgent,
		Schema:  object(false, nil, props{"config-dir": str(), "args": list(str()), "node": str()}, "null"),
	})
}

type startAgent struct {
	configDir string
	args      []string
	node      string
}

func decodeStartAgent(d *Decoder, v *yaml.Node) Step {
	s := &startAgent{}
	if v = resolve(v); v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		d.Define(KindProcess, AgentName, v)
		return s
	}
	f := d.Fields(v, "start-agent", "config-dir", "args", "node")
	if f.Has("config-dir") {
		s.configDir = d.Path(f.Node("config-dir"), "start-agent.config-dir", true)
	}
	if f.Has("args") {
		n := f.Node("args")
		if n.Kind != yaml.SequenceNode {
			d.Errorf(n, "start-agent.args must be a list of agent flags, like [-hcl, 'log_level = \"debug\"'], not %s", describe(n))
		} else {
			for _, a := range n.Content {
				if str, ok := d.String(a, "start-agent.args item"); ok {
					s.args = append(s.args, str)
				}
			}
		}
		if flagValue(s.args, "data-dir") != "" {
			d.Errorf(n, "start-agent.args: -data-dir does not go with -dev (a dev agent keeps its state in memory); remove it")
		}
	}
	s.node = f.String("node")
	d.Define(KindProcess, AgentName, v)
	return s
}

func (s *startAgent) String() string {
	label := "consul agent -dev"
	if s.node != "" {
		label += " (node " + s.node + ")"
	}
	return label
}

// httpAddr is where the agent's HTTP API will listen, read from its flags
// the way consul reads them (a dev agent listens on 127.0.0.1:8500).
func (s *startAgent) httpAddr() string {
	host, port := "127.0.0.1", "8500"
	if c := flagValue(s.args, "client"); c != "" && c != "0.0.0.0" && c != "::" {
		host = c
	}
	if p := flagValue(s.args, "http-port"); p != "" {
		port = p
	}
	return net.JoinHostPort(host, port)
}

func (s *startAgent) Run(ctx context.Context, env Env) error {
	bin, err := env.ConsulBinary()
	if err != nil {
		return err
	}
	addr := s.httpAddr()
	// A consul already listening there would answer our readiness checks
	// and take our registrations: refuse rather than test the wrong agent.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s is already in use, probably by another consul agent; stop it (for example `pkill consul`) and run again", addr)
	}
	argv := []string{bin, "agent", "-dev"}
	if s.node != "" {
		argv = append(argv, "-node", s.node)
	}
	if s.configDir != "" {
		argv = append(argv, "-config-dir", s.configDir)
	}
	argv = append(argv, s.args...)
	p, err := env.Start(AgentName, argv)
	if err != nil {
		return err
	}
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = addr
	cfg.Scheme = "http"
	cfg.Token = ""
	client, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	// As Consul's sdk/testutil does: the agent is usable once it knows a
	// leader and its Connect CA has an active root to sign leaf certificates.
	ready := wait.All(
		wait.Func("a raft leader", func(ctx context.Context) error {
			leader, err := client.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
			if err != nil {
				return err
			}
			if leader == "" {
				return errors.New("no leader yet")
			}
			return nil
		}),
		wait.Func("an active Connect CA root", func(ctx context.Context) error {
			roots, _, err := client.Connect().CARoots((&api.QueryOptions{}).WithContext(ctx))
			if err != nil {
				return err
			}
			for _, r := range roots.Roots {
				if r.Active {
					return nil
				}
			}
			return errors.New("no active root yet")
		}),
	)
	if err := wait.For(ctx, ready, wait.Options{Alive: p.Alive}); err != nil {
		return WithLogs(fmt.Errorf("agent at %s not ready: %w", addr, err), AgentName)
	}
	env.SetAgent(p, cfg)
	return nil
}

// flagValue finds -name=value, -name value, --name=value or --name value.
func flagValue(args []string, name string) string {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
