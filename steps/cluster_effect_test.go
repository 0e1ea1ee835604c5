package steps

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// A step type that does not say what it does to a cluster is refused by
// the registry: `run --agent` could not tell whether to refuse it.
func TestANewStepTypeMustDeclareItsEffectOnACluster(t *testing.T) {
	typ := Type{Name: "new", Summary: "s", Example: "- new: {}", Schema: map[string]any{"type": "object"},
		Decode: func(*spec.Decoder, *yaml.Node) Step { return nil }}
	if _, err := NewRegistry(typ); err == nil || !strings.Contains(err.Error(), "must say what it does to a cluster") {
		t.Errorf("no effect: %v", err)
	}
	typ.Cluster = NotUndone("")
	if _, err := NewRegistry(typ); err == nil || !strings.Contains(err.Error(), "must say why") {
		t.Errorf("no reason: %v", err)
	}
	typ.Cluster = Reads()
	if _, err := NewRegistry(typ); err != nil {
		t.Errorf("declared: %v", err)
	}
}
