package runner

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/scenariofile"
)

// BenchmarkStepOverhead is what the runner adds around a step that does
// nothing: deadlines, events, the report. One op is one step.
func BenchmarkStepOverhead(b *testing.B) {
	sc, err := scenariofile.Parse(filepath.Join(b.TempDir(), "s.yaml"), []byte("name: o\nsteps:\n  - test-ok: {}\n"), testRegistry())
	if err != nil {
		b.Fatal(err)
	}
	one := sc.Items[0]
	sc.Items = make([]Item, b.N)
	for i := range sc.Items {
		sc.Items[i] = one
		sc.Items[i].Index = i
	}
	opts := Options{Observer: NewReporter(io.Discard, false, false), LogsDir: b.TempDir(), Grace: time.Second}
	b.ResetTimer()
	if res := Run(context.Background(), sc, opts); res.Outcome != Passed {
		b.Fatal(res.Err)
	}
}
