package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// The README's recipe for a step type, followed in this file alone: a
// value struct, a step, and a Type made with Typed, added to a registry of
// the test's own. Decoding, validation, the schema and the docs follow.

// greetSpec is the value of the test-only step greet.
type greetSpec struct {
	Who   string        `key:"who,required" shape:"NAME" doc:"whom to greet"`
	Times int           `key:"times" min:"1" default:"1" doc:"how often"`
	Pause spec.Duration `key:"pause" default:"1ms" doc:"between greetings"`
}

type greet struct{ spec greetSpec }

func (g greet) String() string { return fmt.Sprintf("greet %s %d times", g.spec.Who, g.spec.Times) }
func (g greet) Run(ctx context.Context, env steps.Env) error {
	env.Notef("hello, %s", g.spec.Who)
	return nil
}

var greetType = steps.Typed(steps.Type{
	Name:    "greet",
	Summary: "greets someone (test only)",
	Example: "- greet: {who: web}",
	Timeout: time.Second,
	Cluster: steps.Reads(),
}, func(d *spec.Decoder, s *greetSpec, f *spec.Fields) steps.Step { return greet{*s} })

func TestAStepTypeDefinedInATestFile(t *testing.T) {
	reg := steps.Default().With(greetType)
	if _, ok := steps.Default().Lookup("greet"); ok {
		t.Fatal("the built-in registry has the test's type")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "s.yaml")

	sc, err := scenariofile.Parse(path, []byte("steps:\n  - greet: {who: web, times: 2}\n"), reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Items[0]; got.Label != "greet web 2 times" || got.Timeout != time.Second {
		t.Errorf("item: %+v", got)
	}
	if g := sc.Items[0].Step.(greet); g.spec.Pause != spec.Duration(time.Millisecond) {
		t.Errorf("default pause not applied: %+v", g.spec)
	}
	var out strings.Builder
	res := Run(context.Background(), sc, Options{Observer: NewReporter(&out, false, false), LogsDir: filepath.Join(dir, "logs"), Grace: 100 * time.Millisecond})
	if res.Outcome != Passed || !strings.Contains(out.String(), "hello, web") {
		t.Errorf("run: %v\n%s", res.Outcome, out.String())
	}

	// Strict decoding, every problem at its place, from the struct alone.
	_, err = scenariofile.Parse(path, []byte("steps:\n  - greet: {whom: web, times: 0, pause: soon}\n"), reg)
	want := []string{
		`s.yaml:2:13: greet: unknown key "whom" (did you mean "who"?); known keys: who, times, pause`,
		`s.yaml:2:31: greet.times must be 1 or more, not 0`,
		`s.yaml:2:41: greet.pause: "soon" is not a duration`,
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	// Without the type, the same file is invalid.
	if _, err := scenariofile.Parse(path, []byte("steps:\n  - greet: {who: web}\n"), steps.Default()); err == nil || !strings.Contains(err.Error(), `unknown step type "greet"`) {
		t.Errorf("default registry: %v", err)
	}

	// The schema and the docs come from the same struct.
	schema := fmt.Sprint(scenariofile.Schema(reg))
	for _, w := range []string{"greets someone (test only)", "whom to greet", "required:[who]"} {
		if !strings.Contains(schema, w) {
			t.Errorf("schema lacks %q", w)
		}
	}
	keys := spec.Keys(reflect.TypeOf(greetSpec{}))
	if len(keys) != 3 || keys[0].Key != "who" || !keys[0].Required || keys[1].Default != "1" {
		t.Errorf("docs: %+v", keys)
	}
}
