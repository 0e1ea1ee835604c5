package scenariofile

import (
	"reflect"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

func reflectTypeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// Schema returns the JSON Schema (draft 2020-12) of a scenario file using
// reg's step types, generated from File, ItemKeys and each step type's
// value type.
func Schema(reg *steps.Registry) map[string]any {
	itemKeys := spec.Schema(reflectTypeOf[ItemKeys]())["properties"].(map[string]any)
	var stepForms []any
	for _, t := range reg.Types() {
		properties := map[string]any{t.Name: t.Schema}
		for k, v := range itemKeys {
			properties[k] = v
		}
		stepForms = append(stepForms, map[string]any{
			"type":                 "object",
			"description":          t.Summary,
			"required":             []string{t.Name},
			"properties":           properties,
			"additionalProperties": false,
		})
	}
	top := spec.Schema(reflectTypeOf[File]())
	topProps := top["properties"].(map[string]any)
	topProps["steps"] = map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"$ref": "#/$defs/step"}, "description": topProps["steps"].(map[string]any)["description"]}
	top["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	top["title"] = "scenario file"
	top["description"] = "A scenario for `scenario run`: steps against a real Consul Connect mesh."
	top["patternProperties"] = map[string]any{"^x-": map[string]any{"description": "ignored; a place for YAML anchors"}}
	top["$defs"] = map[string]any{
		"duration": spec.DurationSchema(),
		"step":     map[string]any{"oneOf": stepForms},
	}
	return top
}
