package steps

// The JSON Schema of scenario files is assembled from the registry, so it
// cannot drift from the step types; these helpers keep each type's
// fragment short.

type props map[string]any

func str() map[string]any     { return map[string]any{"type": "string"} }
func boolean() map[string]any { return map[string]any{"type": "boolean"} }
func list(items map[string]any) map[string]any {
	return map[string]any{"type": "array", "items": items}
}
func positive() map[string]any             { return map[string]any{"type": "integer", "minimum": 1} }
func isTrue() map[string]any               { return map[string]any{"const": true} }
func enum(values ...string) map[string]any { return map[string]any{"type": "string", "enum": values} }
func oneOf(schemas ...map[string]any) map[string]any {
	return map[string]any{"oneOf": schemas}
}
func duration() map[string]any { return map[string]any{"$ref": "#/$defs/duration"} }
func command() map[string]any {
	return oneOf(map[string]any{"type": "string", "minLength": 1}, map[string]any{"type": "array", "items": str(), "minItems": 1})
}

// object is a mapping with the given properties; open allows others (for
// Consul's own service definitions), alsoTypes adds e.g. "null".
func object(open bool, required []string, properties props, alsoTypes ...string) map[string]any {
	o := map[string]any{"type": "object"}
	if len(alsoTypes) > 0 {
		o["type"] = append([]string{"object"}, alsoTypes...)
	}
	if properties != nil {
		o["properties"] = map[string]any(properties)
	}
	if !open {
		o["additionalProperties"] = false
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// Schema returns the JSON Schema (draft 2020-12) of a scenario file.
func Schema() map[string]any {
	var stepForms []any
	for _, t := range Types() {
		stepForms = append(stepForms, map[string]any{
			"type":        "object",
			"description": t.Summary,
			"required":    []string{t.Name},
			"properties": map[string]any{
				t.Name:    t.Schema,
				"name":    map[string]any{"type": "string", "description": "the step's label in the output"},
				"timeout": duration(),
				"node":    map[string]any{"type": "string", "description": "the node the step acts on (one of the scenario's nodes)"},
			},
			"additionalProperties": false,
		})
	}
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "scenario file",
		"description":          "A scenario for `scenario run`: steps against a real Consul Connect mesh.",
		"type":                 "object",
		"required":             []string{"steps"},
		"additionalProperties": false,
		"patternProperties":    map[string]any{"^x-": map[string]any{"description": "ignored; a place for YAML anchors"}},
		"properties": map[string]any{
			"name":        str(),
			"description": str(),
			"timeout":     duration(),
			"nodes":       map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"type": "string", "pattern": "^[a-z][a-z0-9-]{0,14}$"}, "description": "the machines of a topology: each a network namespace of its own"},
			"steps":       map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"$ref": "#/$defs/step"}},
		},
		"$defs": map[string]any{
			"duration": map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "description": "a Go duration such as 500ms, 5s or 2m"},
			"step":     map[string]any{"oneOf": stepForms},
		},
	}
}
