package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

var update = flag.Bool("update", false, "rewrite the generated files: docs/reference/*, docs/library.md and scenario.schema.json")

// Every page of docs/ that is rendered from the code is as the code
// renders it now; -update (go generate ./cmd/scenario) rewrites them.
func TestReferencePagesAreCurrent(t *testing.T) {
	pages, err := referencePages("../..")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range pages {
		committed, _ := os.ReadFile(filepath.Join("../..", path))
		if string(committed) == want {
			continue
		}
		if *update {
			if err := os.MkdirAll(filepath.Dir(filepath.Join("../..", path)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("../..", path), []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s is stale; run `go generate ./cmd/scenario` (or `go test ./cmd/scenario -update`)", path)
	}
}

const (
	beginEffects = "<!-- effects:begin (generated from each step type's declared effect; `go test ./cmd/scenario -update` rewrites it) -->\n"
	endEffects   = "<!-- effects:end -->"
)

// The guide to run --agent shows what each step type does there, from the
// effect its registration declares.
func TestExistingClusterGuideTableIsCurrent(t *testing.T) {
	const path = "../../docs/guides/existing-cluster.md"
	guide, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(guide)
	begin := strings.Index(text, beginEffects)
	end := strings.Index(text, endEffects)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers %q ... %q", path, beginEffects, endEffects)
	}
	want := agentEffectsMarkdown()
	if text[begin+len(beginEffects):end] == want {
		return
	}
	if *update {
		text = text[:begin+len(beginEffects)] + want + text[end:]
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's table of step types is stale; run `go generate ./cmd/scenario`.\nwant:\n%s", path, want)
}

// Every field of the JSON events is documented, for docs/reference/events.md.
func TestEveryEventFieldIsDocumented(t *testing.T) {
	kinds := map[string]bool{}
	for _, k := range runner.EventKinds {
		kinds[k.Name] = true
	}
	for _, typ := range runner.EventTypes {
		fields := eventFields(typ)
		if len(fields) != typ.NumField() {
			t.Errorf("%s has %d fields, %d of them JSON keys: document the others or mark them json:\"-\"", typ.Name(), typ.NumField(), len(fields))
		}
		for _, f := range fields {
			if f.doc == "" {
				t.Errorf("%s.%s has no doc tag", typ.Name(), f.key)
			}
			for _, in := range f.in {
				if !kinds[in] {
					t.Errorf("%s.%s: in:%q is not one of runner.EventKinds", typ.Name(), f.key, in)
				}
			}
		}
	}
}

// scenario help TOPIC prints each topic, and the topics' texts fill in.
func TestHelpTopics(t *testing.T) {
	for _, tp := range topics() {
		code, stdout, stderr := runCLI("help", tp.name)
		if code != exitPassed || !strings.HasPrefix(stdout, tp.name+": "+tp.summary+"\n") || strings.Contains(stdout, "{{") || stderr != "" {
			t.Errorf("help %s: exit %d, stdout %q, stderr %q", tp.name, code, stdout, stderr)
		}
		if _, clash := findCommand(tp.name); clash {
			t.Errorf("topic %s is also a command", tp.name)
		}
		if _, clash := steps.Default().Lookup(tp.name); clash {
			t.Errorf("topic %s is also a step type", tp.name)
		}
	}
	code, stdout, _ := runCLI("help", "file")
	for _, want := range []string{"    steps: ", "    node: NODE", "x-"} {
		if code != exitPassed || !strings.Contains(stdout, want) {
			t.Errorf("help file lacks %q:\n%s", want, stdout)
		}
	}
	if _, stdout, _ := runCLI("help", "nodes"); !strings.Contains(stdout, "sidecar, start-agent, stop") {
		t.Errorf("help nodes does not list the step types that act on a node:\n%s", stdout)
	}
}

// scenario help WORD, WORD being a key, part of step types' names or a
// misspelling, says in a line or two where its help is, not the whole
// usage.
func TestHelpOfAnUnknownWordSaysWhereToLook(t *testing.T) {
	for word, want := range map[string][]string{
		"health":     {"see scenario help expect (its health: key)"},
		"intentions": {"scenario help expect (its intention: key)", "scenario help set-intention", "scenario help delete-intention"},
		"hepl":       {"see scenario help help"},
		"faults":     {"see scenario help nodes (a topic)"},
		"xyzzy":      {`"xyzzy" is neither a command, a step type nor a topic` + "\n"},
	} {
		code, stdout, stderr := runCLI("help", word)
		if code != exitInvalid || stdout != "" || strings.Count(stderr, "\n") > 2 || strings.Contains(stderr, "Usage:") {
			t.Errorf("help %s: exit %d, stdout %q, stderr:\n%s", word, code, stdout, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("help %s does not say %q:\n%s", word, w, stderr)
			}
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != exitInvalid || !strings.Contains(errOut.String(), "Usage:") {
		t.Errorf("no arguments: exit %d, stderr %q", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Exit status") {
		t.Errorf("help: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"steps"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "set-intention") {
		t.Errorf("steps: exit %d, %q", code, out.String())
	}
}

// The committed schema is the registry's, and every scenario the project
// ships is valid against it, checked by a real JSON Schema validator.
func TestSchemaIsCurrentAndValidatesScenarios(t *testing.T) {
	committed, err := os.ReadFile("../../scenario.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != schemaJSON() {
		if *update {
			if err := os.WriteFile("../../scenario.schema.json", []byte(schemaJSON()), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("scenario.schema.json is stale; run `go test ./cmd/scenario -update`")
		}
	}
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
	asJSON := func(path string) any {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		// Through JSON, so that numbers and maps look as a validator expects.
		raw, _ := json.Marshal(v)
		out, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		return out
	}
	valid, _ := filepath.Glob("../../scenarios/*.yaml")
	e2e, _ := filepath.Glob("../../testdata/e2e/*.yaml")
	for _, f := range append(valid, e2e...) {
		if strings.HasSuffix(f, "invalid.yaml") {
			continue
		}
		if err := schema.Validate(asJSON(f)); err != nil {
			t.Errorf("%s is not valid against the schema: %v", f, err)
		}
	}
	for _, f := range []string{"action-permit", "two-step-keys", "misspelled-key", "unknown-step-type", "bad-step-timeout", "exec-exit-out-of-range"} {
		if err := schema.Validate(asJSON("../../testdata/invalid/" + f + ".yaml")); err == nil {
			t.Errorf("testdata/invalid/%s.yaml passes the schema", f)
		}
	}
}

func TestGraphOfIntentions(t *testing.T) {
	sc, err := scenariofile.Load("../../scenarios/intentions.yaml", steps.Default())
	if err != nil {
		t.Fatal(err)
	}
	dot := graphOf(sc)
	for _, want := range []string{
		`"socat" [shape=box`, `label="socat\n127.0.0.1:8181"`,
		`"web-sidecar" -> "socat-sidecar" [label="upstream socat\nmTLS 127.0.0.1, port assigned by Consul\nintention: deny → allow → deleted\nintention: default (allow on a dev agent)"`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
}
