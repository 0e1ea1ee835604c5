package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// The JSON Schema and the loader agree on the consul-formats corpus, both
// ways: every corpus scenario is accepted by both, and each variant that
// breaks one is refused by both.
func TestSchemaAgreesWithLoaderOnCorpus(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schemaJSON()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("scenario.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("scenario.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	schemaOK := func(data []byte) error {
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil { // merge keys applied, as an editor's YAML parser does
			return err
		}
		raw, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		return schema.Validate(inst)
	}
	corpus, _ := filepath.Abs("../../testdata/consul-formats")
	files, _ := filepath.Glob(corpus + "/*.yaml")
	if len(files) < 7 {
		t.Fatalf("corpus has %d files", len(files))
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		_, loadErr := scenariofile.Parse(f, data, steps.Default())
		if loadErr != nil || schemaOK(data) != nil {
			t.Errorf("%s: loader: %v; schema: %v", f, loadErr, schemaOK(data))
		}
	}
	// Variants of the corpus that are invalid.
	head := "steps:\n  - start-agent: {}\n"
	for _, bad := range []string{
		"steps:\n  - start-agent: {dev: \"no\"}\n",
		"steps:\n  - start-agent: {config-dir: boot.d, nod: x}\n",
		head + "  - register: {services: {name: x}}\n",
		head + "  - register: {services: []}\n",
		head + "  - register: {file: defs/web.json, service: {name: x}}\n",
		head + "  - register: {servce: {name: x}}\n",
		head + "  - register: [defs/web.json]\n",
		head + "  - {<<: {bogus: 1}, stop: agent}\n",
		"x-a: &a {name: n}\n<<: *a\nsteps: [{start-agent: {}}]\nbogus: 1\n",
	} {
		path := filepath.Join(corpus, "variant.yaml")
		_, loadErr := scenariofile.Parse(path, []byte(bad), steps.Default())
		if loadErr == nil || schemaOK([]byte(bad)) == nil {
			t.Errorf("%q: loader: %v; schema: %v; both should refuse it", bad, loadErr, schemaOK([]byte(bad)))
		}
	}
	// And variants that are valid.
	for _, good := range []string{
		"steps:\n  - start-agent: {dev: false}\n  - stop: agent\n  - start-agent: {config-dir: boot.d}\n",
		head + "  - register: {services: [{name: a, id: a-1}, {name: a, id: a-2}]}\n  - register: {file: tutorial/counting.hcl}\n",
		"x-a: &a {timeout: 5s}\nsteps:\n  - {<<: *a, start-agent: {}}\n",
	} {
		path := filepath.Join(corpus, "variant.yaml")
		_, loadErr := scenariofile.Parse(path, []byte(good), steps.Default())
		if loadErr != nil || schemaOK([]byte(good)) != nil {
			t.Errorf("%q: loader: %v; schema: %v; both should accept it", good, loadErr, schemaOK([]byte(good)))
		}
	}
}
