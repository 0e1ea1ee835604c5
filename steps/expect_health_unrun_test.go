package steps

import (
	"testing"

	"github.com/hashicorp/consul/api"
)

func TestACheckThatLeavesAnOutputIsNotRunYetWhilePassingWithout(t *testing.T) {
	for _, c := range []struct {
		typ, status, output string
		want                bool
	}{
		{"tcp", api.HealthPassing, "", true},
		{"http", api.HealthPassing, "  ", true},
		{"alias", api.HealthPassing, "", true},
		{"tcp", api.HealthPassing, "TCP connect 127.0.0.1:1: Success", false},
		{"tcp", api.HealthCritical, "", false},
		{"ttl", api.HealthPassing, "", false},
		{"script", api.HealthPassing, "", false},
		{"", api.HealthPassing, "", false},
	} {
		if got := notRunYet(&api.HealthCheck{Status: c.status, Output: c.output}, c.typ); got != c.want {
			t.Errorf("%s %s with output %q: not run yet is %v, want %v", c.typ, c.status, c.output, got, c.want)
		}
	}
}

func TestTypeOfDefinitionIsConsuls(t *testing.T) {
	for want, def := range map[string]*api.AgentServiceCheck{
		"tcp":    {TCP: "a:1", Interval: "10s"},
		"grpc":   {GRPC: "a:1", HTTP: "http://a", Interval: "10s"},
		"ttl":    {TTL: "10s"},
		"alias":  {AliasService: "db"},
		"script": {Args: []string{"true"}, Interval: "10s"},
		"":       {TCP: "a:1"},
	} {
		if got := typeOfDefinition(def); got != want {
			t.Errorf("%+v: type %q, want %q", def, got, want)
		}
	}
}

func TestTheTargetConsulsLastRunNamesIsReadFromItsOutput(t *testing.T) {
	for _, c := range []struct{ typ, output, target, method string }{
		{"tcp", "TCP connect 127.0.0.1:7999: Success", "127.0.0.1:7999", ""},
		{"udp", "UDP connect 127.0.0.1:53: Success", "127.0.0.1:53", ""},
		{"grpc", "gRPC check 127.0.0.1:7601/health: success", "127.0.0.1:7601", ""},
		{"http", "HTTP POST http://127.0.0.1:8080/ready: 200 OK Output: ok: yes", "http://127.0.0.1:8080/ready", "POST"},
		{"h2ping", "HTTP2 ping was successful", "", ""},
		{"tcp", "dial tcp 127.0.0.1:7999: connect: connection refused", "", ""},
		{"http", "HTTP GET: 200", "", ""},
	} {
		target, method, ok := targetInOutput(c.typ, c.output)
		if target != c.target || method != c.method || ok != (c.target != "") {
			t.Errorf("%s %q: target %q method %q (%v), want %q %q", c.typ, c.output, target, method, ok, c.target, c.method)
		}
	}
}
