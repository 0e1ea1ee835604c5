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
