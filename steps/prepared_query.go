package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// preparedQueryType is the prepared-query step.
var preparedQueryType = Typed(Type{
	Name:    "prepared-query",
	Cluster: Undone("the query is deleted"),
	Summary: "creates a prepared query over a service (passing instances only by default, with failover datacenters), " +
		"for upstreams with destination_type: prepared_query",
	Example: `- prepared-query: {name: socat-pq, service: socat}`,
	Timeout: 30 * time.Second,
}, buildPreparedQuery)

// PreparedQuerySpec is the value of a prepared-query step.
type PreparedQuerySpec struct {
	Name        string   `key:"name,required" shape:"NAME" doc:"the query's name, which upstreams with destination_type: prepared_query use"`
	Service     string   `key:"service,required" shape:"SERVICE" doc:"the service the query returns"`
	OnlyPassing bool     `key:"only-passing" default:"true" doc:"return passing instances only"`
	Failover    []string `key:"failover" doc:"datacenters to fail over to, in order"`
}

type preparedQuery struct {
	def api.PreparedQueryDefinition
}

func buildPreparedQuery(d *spec.Decoder, val *PreparedQuerySpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "prepared-query")
	q := &preparedQuery{}
	q.def.Name = val.Name
	q.def.Service.Service = val.Service
	q.def.Service.OnlyPassing = val.OnlyPassing
	q.def.Service.Failover.Datacenters = val.Failover
	if !d.External && !d.Defined(spec.KindService, q.def.Service.Service) {
		d.Warnf(f.NodeOf(&val.Service), "prepared-query.service: no earlier step registers service %q", q.def.Service.Service)
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
	id, _, err := client.PreparedQuery().Create(&def, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return WithLogs(fmt.Errorf("creating prepared query %s: %w", q.def.Name, err), spec.AgentName)
	}
	if env.External() {
		env.Undo(fmt.Sprintf("prepared query %s deleted (ID %s)", q.def.Name, id), func(ctx context.Context) error {
			_, err := client.PreparedQuery().Delete(id, (&api.WriteOptions{}).WithContext(ctx))
			return err
		})
	}
	return nil
}

// Graph records the service the query returns, for upstreams that use it.
func (q *preparedQuery) Graph(g *Graph) { g.addQuery(q.def) }
