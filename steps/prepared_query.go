package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"
)

func init() {
	Register(Type{
		Name: "prepared-query",
		Summary: "creates a prepared query over a service (passing instances only by default, with failover datacenters), " +
			"for upstreams with destination_type: prepared_query",
		Fields:  "{name, service, only-passing (default true), failover: [DATACENTER, ...]}",
		Example: `- prepared-query: {name: socat-pq, service: socat}`,
		Timeout: 30 * time.Second,
		Decode:  decodePreparedQuery,
		Schema: object(false, []string{"name", "service"}, props{
			"name": str(), "service": str(), "only-passing": boolean(), "failover": list(str()),
		}),
	})
}

type preparedQuery struct {
	def api.PreparedQueryDefinition
}

func decodePreparedQuery(d *Decoder, v *yaml.Node) Step {
	d.NeedAgent(v, "prepared-query")
	f := d.Fields(v, "prepared-query", "name", "service", "only-passing", "failover")
	if !f.Require(v, "name", "service") {
		return nil
	}
	q := &preparedQuery{}
	q.def.Name = f.String("name")
	q.def.Service.Service = f.String("service")
	q.def.Service.OnlyPassing = true
	if f.Has("only-passing") {
		q.def.Service.OnlyPassing, _ = f.Bool("only-passing")
	}
	if f.Has("failover") {
		n := resolve(f.Node("failover"))
		if n.Kind != yaml.SequenceNode {
			d.Errorf(n, "prepared-query.failover must be a list of datacenters")
		} else {
			for _, item := range n.Content {
				if dc, ok := d.String(item, "prepared-query.failover"); ok {
					q.def.Service.Failover.Datacenters = append(q.def.Service.Failover.Datacenters, dc)
				}
			}
		}
	}
	if !d.Defined(KindService, q.def.Service.Service) {
		d.Warnf(f.Node("service"), "prepared-query.service: no earlier step registers service %q", q.def.Service.Service)
	}
	return q
}

func (q *preparedQuery) String() string {
	s := fmt.Sprintf("%s over %s", q.def.Name, q.def.Service.Service)
	if len(q.def.Service.Failover.Datacenters) > 0 {
		s += fmt.Sprintf(", failover to %v", q.def.Service.Failover.Datacenters)
	}
	return s
}

func (q *preparedQuery) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	def := q.def
	if _, _, err := client.PreparedQuery().Create(&def, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return WithLogs(fmt.Errorf("creating prepared query %s: %w", q.def.Name, err), AgentName)
	}
	return nil
}
