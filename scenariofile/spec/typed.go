// Package spec is the scenario file format's specification and the one
// home of its validation: a strict decoder from YAML to Go values that
// reports every problem at its file:line:col, all at once, and every
// warning (Decoder, Pos, Error); the book, what earlier steps of the file
// defined (processes, connections, registered instances and their checks,
// sidecars, tokens), against which later steps are checked (book.go); the
// topology checks (nodes, each step's node, whether the agents on them
// form clusters: topology.go); what a registration or an intention
// implies (registration.go); the value types any step may use (Duration,
// Command, Pattern, Dir, File, Address, Optional); and the JSON Schema
// and docs generated from the same Go types.
//
// It is one package, not a decoder here and checks elsewhere, because the
// checks need the decoder's state (where it is, what it reported) and the
// decoder's values need the checks (an address's mistake may name a
// registered service): split, each half reached into the other. Package
// scenariofile is the format's one door (Load); each step type, in
// package steps, keeps its value and its build function in its own file
// and checks what only it knows through this package's API (Define, Use,
// NeedAgent, AddInstance, Errorf, Warnf). Consul's own formats are read
// by package consuldef, Consul's decoder, which the book uses.
//
// A step type's value is a Go type, usually a struct: its fields with their
// `key` and `doc` tags are the one definition from which the value is
// decoded (strictly, every problem at its file:line:col), described in the
// JSON Schema and documented (`scenario steps`, docs/steps.md). A step type
// writes no decoder, schema or key list of its own; its build function
// gets the decoded value and checks what only the scenario as a whole can
// tell (names defined by earlier steps, say).
//
// Field tags:
//
//	key:"name"             the YAML key (a field without one is not read)
//	key:"name,required"    the key must be present
//	key:"name,shorthand"   a scalar value stands for {name: VALUE}
//	doc:"..."              what the key means, for the docs and the schema
//	default:"5s"           the value when the key is absent, decoded as if written
//	enum:"allow,deny"      the words a string may be
//	min:"0" max:"255"      bounds of an integer
//	shape:"SERVICE"        how the docs show a string value (default STRING)
//	const:"true"           the one value a boolean may be, for the schema
//
// A struct whose fields are tagged `form:"KEY"` (each a pointer to a
// value struct) is a choice of forms: the first form whose KEY is present
// is decoded and set, `form:""` is the form when none is; formname:"..."
// names it in messages ("expect cert does not take ..."). The schema has
// one form per field.
//
//	oneof:"outcome"        exactly one key of the group "outcome" must be
//	                       present (the schema has a form per key)
//
// yaml.v3's own Node.Decode ignores KnownFields, so unknown and duplicate
// keys are checked here, by the Decoder, with "did you mean".
package spec

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Value is a field type that decodes and describes itself: durations,
// commands, addresses, targets, paths, regular expressions.
type Value interface {
	// DecodeYAML reads n (already resolved from aliases); what names the
	// key in messages, like "run.ready". It reports problems through d.
	DecodeYAML(d *Decoder, n *yaml.Node, what string)
	// SchemaJSON is the JSON Schema of the value.
	SchemaJSON() map[string]any
	// Shape is how the docs show the value, like "host:port".
	Shape() string
}

// NullMeansEmpty, embedded in a value struct, lets the value be left
// empty (`start-agent:`), which means {}.
type NullMeansEmpty struct{}

var (
	valueType          = reflect.TypeOf((*Value)(nil)).Elem()
	nodeType           = reflect.TypeOf((*yaml.Node)(nil))
	nullMeansEmptyType = reflect.TypeOf(NullMeansEmpty{})
)

// Decode reads n into out, a pointer to a value struct (or to any type a
// step's value may be), reporting every problem through d. ok is false
// when the value is unusable: not the right shape, or a required key is
// missing; f gives the nodes of its keys. what names the value in
// messages ("" for keys named alone, as an item's common keys are).
func (d *Decoder) Decode(n *yaml.Node, what string, out any) (f *Fields, ok bool) {
	return d.decodeValue(n, what, reflect.ValueOf(out).Elem())
}

// field is one keyed struct field.
type field struct {
	index                      []int
	key, doc, def, enum, oneof string
	shape                      string
	required, short            bool
	min, max                   *int
	constant                   string
	optional                   bool // an Optional[T]: the value is its Value
}

// Optional is a key's value when whether the key was written matters
// beyond its value: a default still fills Value, and Set says whether the
// file gave it. (A key without a default whose absence matters is a
// pointer field, nil when absent.) Schema, shape and docs are T's.
type Optional[T any] struct {
	Value T
	Set   bool
}

func (*Optional[T]) isOptional() {}

var optionalType = reflect.TypeOf((*interface{ isOptional() })(nil)).Elem()

// fieldType is the type a field's key holds: an Optional's Value's, a
// pointer's element's (a pointer only says whether the key was there).
func fieldType(t reflect.Type, fl field) reflect.Type {
	ft := t.FieldByIndex(fl.index).Type
	if fl.optional {
		return ft.Field(0).Type
	}
	if ft.Kind() == reflect.Pointer && ft != nodeType {
		return ft.Elem()
	}
	return ft
}

// fieldValue is where a field's key is decoded to; written says the file
// gave the key (an Optional's Set), as opposed to its default.
func fieldValue(out reflect.Value, fl field, written bool) reflect.Value {
	v := out.FieldByIndex(fl.index)
	if fl.optional {
		v.Field(1).SetBool(written)
		return v.Field(0)
	}
	return v
}

// fieldsOf and formsOf read a value struct's tags once per type: a
// scenario of a thousand steps would otherwise parse them a thousand
// times (they were a third of loading). Callers only read the slices.
var fieldsCache, formsCache sync.Map // reflect.Type -> []field, []form

func fieldsOf(t reflect.Type) []field {
	if f, ok := fieldsCache.Load(t); ok {
		return f.([]field)
	}
	f := readFields(t)
	fieldsCache.Store(t, f)
	return f
}

func formsOf(t reflect.Type) []form {
	if f, ok := formsCache.Load(t); ok {
		return f.([]form)
	}
	f := readForms(t)
	formsCache.Store(t, f)
	return f
}

func readFields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("key")
		if !ok {
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct && sf.Type != nullMeansEmptyType {
				// An embedded value struct's keys are this one's.
				for _, inner := range fieldsOf(sf.Type) {
					inner.index = append([]int{i}, inner.index...)
					out = append(out, inner)
				}
			}
			continue
		}
		parts := strings.Split(tag, ",")
		f := field{index: []int{i}, key: parts[0], doc: sf.Tag.Get("doc"), def: sf.Tag.Get("default"), enum: sf.Tag.Get("enum"), constant: sf.Tag.Get("const"), oneof: sf.Tag.Get("oneof"), shape: sf.Tag.Get("shape"),
			optional: reflect.PointerTo(sf.Type).Implements(optionalType)}
		for _, p := range parts[1:] {
			switch p {
			case "required":
				f.required = true
			case "shorthand":
				f.short = true
			default:
				panic(fmt.Sprintf("spec: %s.%s: unknown key option %q", t.Name(), sf.Name, p))
			}
		}
		for tagName, dst := range map[string]**int{"min": &f.min, "max": &f.max} {
			if s, ok := sf.Tag.Lookup(tagName); ok {
				n, err := strconv.Atoi(s)
				if err != nil {
					panic(fmt.Sprintf("spec: %s.%s: %s:%q is not a number", t.Name(), sf.Name, tagName, s))
				}
				*dst = &n
			}
		}
		out = append(out, f)
	}
	return out
}

func keysOf(fields []field) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

func nullMeansEmpty(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Anonymous && t.Field(i).Type == nullMeansEmptyType {
			return true
		}
	}
	return false
}

// decodeValue reads v into out (a settable value of the step's value
// type). ok is false when the value is unusable: not the right shape, or
// a required key is missing.
func (d *Decoder) decodeValue(v *yaml.Node, what string, out reflect.Value) (*Fields, bool) {
	v = Resolve(v)
	if out.Kind() != reflect.Struct || out.Type().Implements(valueType) || reflect.PointerTo(out.Type()).Implements(valueType) {
		// A value that is not a mapping: the whole value is the field.
		f := &Fields{d: d, what: what, keys: map[string]*yaml.Node{"": v}, vals: map[string]*yaml.Node{"": v}, suggested: map[string]bool{}, at: v, OK: true}
		return f, d.decodeField(v, what, out, field{})
	}
	return d.decodeStruct(v, what, out)
}

func (d *Decoder) decodeStruct(v *yaml.Node, what string, out reflect.Value) (*Fields, bool) {
	if forms := formsOf(out.Type()); forms != nil {
		return d.decodeForms(v, what, out, forms)
	}
	fields := fieldsOf(out.Type())
	if v.Kind == yaml.ScalarNode {
		if v.ShortTag() == "!!null" && nullMeansEmpty(out.Type()) {
			v = &yaml.Node{Kind: yaml.MappingNode, Line: v.Line, Column: v.Column}
		} else {
			for _, fl := range fields {
				if fl.short {
					f := &Fields{d: d, what: what, keys: map[string]*yaml.Node{fl.key: v}, vals: map[string]*yaml.Node{fl.key: v}, suggested: map[string]bool{}, at: v, OK: true, structs: []reflect.Value{out}}
					ok := d.decodeField(v, what, fieldValue(out, fl, true), fl)
					for _, other := range fields {
						if !other.short {
							d.decodeDefault(what, out, other)
						}
					}
					return f, ok
				}
			}
		}
	}
	f := d.Fields(v, what, keysOf(fields)...)
	f.structs = []reflect.Value{out}
	if !f.OK {
		return f, false
	}
	var required []string
	for _, fl := range fields {
		n := f.node(fl.key)
		switch {
		case n != nil:
			d.decodeField(n, join(what, fl.key), fieldValue(out, fl, true), fl)
		default:
			d.decodeDefault(what, out, fl)
		}
		if fl.required {
			required = append(required, fl.key)
		}
	}
	return f, f.Require(v, required...) && d.checkOneOf(v, what, f, fields)
}

// decodeDefault sets an absent key's field to its default, if it has one,
// decoded as if written.
func (d *Decoder) decodeDefault(what string, out reflect.Value, fl field) {
	if fl.def == "" {
		return
	}
	n, ok := defaultNode(fl.def)
	if !ok {
		panic(fmt.Sprintf("spec: %s.%s: bad default %q", what, fl.key, fl.def))
	}
	if !d.decodeField(n, join(what, fl.key), fieldValue(out, fl, false), fl) {
		panic(fmt.Sprintf("spec: %s.%s: the default %q is not a valid value", what, fl.key, fl.def))
	}
}

// defaultNodes keeps each default's parsed text: a loader of many steps
// would otherwise parse the same few defaults for every one of them.
// Decoding only reads a node, so one parse serves every decoder.
var defaultNodes sync.Map // the default's text -> *yaml.Node

func defaultNode(def string) (*yaml.Node, bool) {
	if n, ok := defaultNodes.Load(def); ok {
		return n.(*yaml.Node), true
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(def), &doc); err != nil || len(doc.Content) == 0 {
		return nil, false
	}
	defaultNodes.Store(def, doc.Content[0])
	return doc.Content[0], true
}

// form is one form of a choice (see the package comment).
type form struct {
	index     int
	key, name string
	fields    []field
}

func readForms(t reflect.Type) []form {
	var forms []form
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		key, ok := sf.Tag.Lookup("form")
		if !ok {
			continue
		}
		if sf.Type.Kind() != reflect.Pointer || sf.Type.Elem().Kind() != reflect.Struct {
			panic(fmt.Sprintf("spec: %s.%s: a form must be a pointer to a struct", t.Name(), sf.Name))
		}
		name := sf.Tag.Get("formname")
		if name == "" {
			name = key
		}
		forms = append(forms, form{index: i, key: key, name: name, fields: fieldsOf(sf.Type.Elem())})
	}
	return forms
}

func (d *Decoder) decodeForms(v *yaml.Node, what string, out reflect.Value, forms []form) (*Fields, bool) {
	var all []string
	for _, fm := range forms {
		for _, k := range keysOf(fm.fields) {
			if !slices.Contains(all, k) {
				all = append(all, k)
			}
		}
	}
	f := d.Fields(v, what, all...)
	if !f.OK {
		return f, false
	}
	chosen := forms[len(forms)-1]
	for _, fm := range forms {
		if fm.key == "" {
			chosen = fm
		}
	}
	for _, fm := range forms {
		if fm.key != "" && f.has(fm.key) {
			chosen = fm
			break
		}
	}
	// The chosen form reads only its own keys; the others are reported.
	own := keysOf(chosen.fields)
	only := &yaml.Node{Kind: yaml.MappingNode, Line: f.At().Line, Column: f.At().Column}
	for _, k := range all {
		switch {
		case !f.has(k):
		case slices.Contains(own, k):
			only.Content = append(only.Content, f.key(k), f.node(k))
		default:
			d.Errorf(f.key(k), "%s %s does not take %q", what, chosen.name, k)
		}
	}
	value := reflect.New(out.Type().Field(chosen.index).Type.Elem())
	_, ok := d.decodeStruct(only, what, value.Elem())
	out.Field(chosen.index).Set(value)
	f.structs = append(f.structs, value.Elem())
	return f, ok
}

// checkOneOf reports a group of keys (tagged oneof) of which not exactly
// one is present.
func (d *Decoder) checkOneOf(v *yaml.Node, what string, f *Fields, fields []field) bool {
	group, members, present := "", []string{}, []string{}
	for _, fl := range fields {
		if fl.oneof == "" {
			continue
		}
		group = fl.oneof
		members = append(members, fl.key)
		if f.has(fl.key) {
			present = append(present, fl.key)
		}
	}
	switch {
	case group == "" || len(present) == 1:
		return true
	case len(present) == 0:
		d.Errorf(v, "%s needs one %s: %s", what, group, orList(members))
	default:
		d.Errorf(f.key(present[1]), "%s takes one %s (%s), not both %s and %s", what, group, orList(members), present[0], present[1])
	}
	return false
}

// orList is "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func join(what, key string) string {
	if what == "" {
		return key
	}
	return what + "." + key
}

// decodeField reads n into out; false when it was not usable.
func (d *Decoder) decodeField(n *yaml.Node, what string, out reflect.Value, fl field) bool {
	n = Resolve(n)
	if out.Type() == nodeType {
		out.Set(reflect.ValueOf(n))
		return true
	}
	if out.CanAddr() && out.Addr().Type().Implements(valueType) {
		before := len(d.errs)
		out.Addr().Interface().(Value).DecodeYAML(d, n, what)
		return len(d.errs) == before
	}
	switch out.Kind() {
	case reflect.Pointer:
		elem := reflect.New(out.Type().Elem())
		ok := d.decodeField(n, what, elem.Elem(), fl)
		out.Set(elem)
		return ok
	case reflect.String:
		if fl.enum != "" {
			s := d.OneOf(n, what, strings.Split(fl.enum, ",")...)
			out.SetString(s)
			return s != ""
		}
		s, ok := d.String(n, what)
		out.SetString(s)
		return ok
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.Errorf(n, "%s must be true or false, not %s", what, Describe(n))
			return false
		}
		out.SetBool(b)
		return true
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.Errorf(n, "%s must be a whole number, not %s", what, Describe(n))
			return false
		}
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			d.Errorf(n, "%s: %v", what, err)
			return false
		}
		switch {
		case fl.min != nil && fl.max != nil && (i < *fl.min || i > *fl.max):
			d.Errorf(n, "%s must be between %d and %d, not %d", what, *fl.min, *fl.max, i)
			return false
		case fl.min != nil && i < *fl.min:
			d.Errorf(n, "%s must be %d or more, not %d", what, *fl.min, i)
			return false
		}
		out.SetInt(int64(i))
		return true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.Errorf(n, "%s must be a list, not %s", what, Describe(n))
			return false
		}
		s := reflect.MakeSlice(out.Type(), len(n.Content), len(n.Content))
		ok := true
		for i, item := range n.Content {
			ok = d.decodeField(item, what+" item", s.Index(i), field{}) && ok
		}
		out.Set(s)
		return ok
	case reflect.Struct:
		_, ok := d.decodeStruct(n, what, out)
		return ok
	}
	panic(fmt.Sprintf("spec: %s: cannot decode into %s", what, out.Type()))
}

// Schema is the JSON Schema of a value of type t.
func Schema(t reflect.Type) map[string]any { return typeSchema(t, field{}) }

func typeSchema(t reflect.Type, fl field) map[string]any {
	s := typeSchemaOnly(t, fl)
	if fl.doc != "" {
		s = withKey(s, "description", fl.doc)
	}
	if fl.def != "" {
		var v any
		if yaml.Unmarshal([]byte(fl.def), &v) == nil {
			s = withKey(s, "default", v)
		}
	}
	return s
}

func withKey(s map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for kk, vv := range s {
		out[kk] = vv
	}
	return out
}

func typeSchemaOnly(t reflect.Type, fl field) map[string]any {
	if t == nodeType {
		return map[string]any{}
	}
	if reflect.PointerTo(t).Implements(valueType) {
		return reflect.New(t).Interface().(Value).SchemaJSON()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchemaOnly(t.Elem(), fl)
	case reflect.String:
		if fl.enum != "" {
			return enum(strings.Split(fl.enum, ",")...)
		}
		return str()
	case reflect.Bool:
		if fl.constant == "true" {
			return isTrue()
		}
		return boolean()
	case reflect.Int:
		s := map[string]any{"type": "integer"}
		if fl.min != nil {
			s["minimum"] = *fl.min
		}
		if fl.max != nil {
			s["maximum"] = *fl.max
		}
		return s
	case reflect.Slice:
		return list(typeSchema(t.Elem(), field{}))
	case reflect.Struct:
		return structSchema(t)
	}
	panic(fmt.Sprintf("spec: no schema for %s", t))
}

func structSchema(t reflect.Type) map[string]any {
	if forms := formsOf(t); forms != nil {
		var schemas []map[string]any
		for _, fm := range forms {
			s := structSchema(t.Field(fm.index).Type.Elem())
			if nested, ok := s["oneOf"].([]map[string]any); ok && len(s) == 1 {
				schemas = append(schemas, nested...)
			} else {
				schemas = append(schemas, s)
			}
		}
		return oneOf(schemas...)
	}
	fields := fieldsOf(t)
	properties := props{}
	var required []string
	var short map[string]any
	for _, fl := range fields {
		properties[fl.key] = typeSchema(fieldType(t, fl), fl)
		if fl.required {
			required = append(required, fl.key)
		}
		if fl.short {
			short = typeSchema(fieldType(t, fl), fl)
		}
	}
	var also []string
	if nullMeansEmpty(t) {
		also = append(also, "null")
	}
	forms := []map[string]any{object(required, properties, also...)}
	if members := oneOfMembers(fields); len(members) > 0 {
		// One form per member of the group: the member required, the
		// other members absent.
		forms = nil
		for _, m := range members {
			p := props{}
			for k, v := range properties {
				if k == m || !slices.Contains(members, k) {
					p[k] = v
				}
			}
			forms = append(forms, object(append(slices.Clone(required), m), p, also...))
		}
	}
	if short != nil {
		forms = append([]map[string]any{short}, forms...)
	}
	if len(forms) == 1 {
		return forms[0]
	}
	return oneOf(forms...)
}

func oneOfMembers(fields []field) []string {
	var members []string
	for _, fl := range fields {
		if fl.oneof != "" {
			members = append(members, fl.key)
		}
	}
	return members
}

// Shape is a one-line picture of a value of type t for the docs, such
// as "SERVICE, or {service, [proxy: builtin|envoy]}": brackets mark
// optional keys.
func Shape(t reflect.Type) string { return shape(t, field{}) }

func shape(t reflect.Type, fl field) string {
	if t == nodeType {
		if fl.shape != "" {
			return fl.shape
		}
		return "{...}"
	}
	if reflect.PointerTo(t).Implements(valueType) {
		return reflect.New(t).Interface().(Value).Shape()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return shape(t.Elem(), fl)
	case reflect.String:
		if fl.enum != "" {
			return strings.ReplaceAll(fl.enum, ",", "|")
		}
		if fl.shape != "" {
			return fl.shape
		}
		return "STRING"
	case reflect.Bool:
		if fl.constant == "true" {
			return "true"
		}
		return "true|false"
	case reflect.Int:
		return "N"
	case reflect.Slice:
		return "[" + shape(t.Elem(), field{}) + ", ...]"
	case reflect.Struct:
		if forms := formsOf(t); forms != nil {
			var shapes []string
			for _, fm := range forms {
				shapes = append(shapes, shape(t.Field(fm.index).Type.Elem(), field{}))
			}
			return strings.Join(shapes, " | ")
		}
		var keys, group []string
		short := ""
		for _, f := range fieldsOf(t) {
			k := f.key
			ft := fieldType(t, f)
			if f.enum != "" || f.constant != "" || f.oneof != "" || ft.Kind() == reflect.Struct {
				k += ": " + shape(ft, f)
			}
			switch {
			case f.oneof != "":
				// The group is shown once, where its first member is.
				if group = append(group, k); len(group) == 1 {
					keys = append(keys, "")
				}
			case !f.required:
				keys = append(keys, "["+k+"]")
			default:
				keys = append(keys, k)
			}
			if f.short {
				short = shape(ft, f) + ", or "
			}
		}
		for i, k := range keys {
			if k == "" {
				keys[i] = strings.Join(group, " | ")
			}
		}
		s := short + "{" + strings.Join(keys, ", ") + "}"
		if nullMeansEmpty(t) {
			s += ", or nothing"
		}
		return s
	}
	return t.String()
}

// KeyDoc documents one key of a step's value, for docs/steps.md.
type KeyDoc struct {
	Key, Shape, Doc, Default string
	Required                 bool
}

// Keys lists the keys of a value of type t (nested mappings as
// "outer.inner"), in their declared order.
func Keys(t reflect.Type) []KeyDoc {
	if t == nil || t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(valueType) {
		return nil
	}
	var out []KeyDoc
	for _, fm := range formsOf(t) {
		ft := t.Field(fm.index).Type.Elem()
		out = append(out, KeyDoc{Key: "(" + fm.name + ")", Shape: shape(ft, field{}), Doc: fieldDoc(t, fm.index)})
		out = append(out, Keys(ft)...)
	}
	for _, f := range fieldsOf(t) {
		ft := fieldType(t, f)
		out = append(out, KeyDoc{Key: f.key, Shape: shape(ft, f), Doc: f.doc, Default: f.def, Required: f.required})
		for _, inner := range Keys(ft) {
			inner.Key = f.key + "." + inner.Key
			out = append(out, inner)
		}
	}
	return out
}

func fieldDoc(t reflect.Type, i int) string { return t.Field(i).Tag.Get("doc") }
