package spec

// JSON Schema fragments, for the schemas generated from value types
// (typed.go) and for the value types' own (values.go).

type props map[string]any

func str() map[string]any     { return map[string]any{"type": "string"} }
func boolean() map[string]any { return map[string]any{"type": "boolean"} }
func list(items map[string]any) map[string]any {
	return map[string]any{"type": "array", "items": items}
}
func isTrue() map[string]any               { return map[string]any{"const": true} }
func enum(values ...string) map[string]any { return map[string]any{"type": "string", "enum": values} }
func oneOf(schemas ...map[string]any) map[string]any {
	return map[string]any{"oneOf": schemas}
}
func duration() map[string]any { return map[string]any{"$ref": "#/$defs/duration"} }
func command() map[string]any {
	return oneOf(map[string]any{"type": "string", "minLength": 1}, map[string]any{"type": "array", "items": str(), "minItems": 1})
}

// object is a mapping with the given properties and no others;
// alsoTypes adds e.g. "null".
func object(required []string, properties props, alsoTypes ...string) map[string]any {
	o := map[string]any{"type": "object"}
	if len(alsoTypes) > 0 {
		o["type"] = append([]string{"object"}, alsoTypes...)
	}
	if properties != nil {
		o["properties"] = map[string]any(properties)
	}
	o["additionalProperties"] = false
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// DurationSchema is the JSON Schema definition that duration() refers to
// (#/$defs/duration).
func DurationSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "description": "a Go duration such as 500ms, 5s or 2m"}
}
