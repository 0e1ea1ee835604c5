package scenariofile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-multierror"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// FuzzParse feeds the loader and validator arbitrary bytes: it must never
// panic or hang, and every error it returns must carry a position.
// `make fuzz` runs it for minutes; `make test` for seconds. Crashers land
// in testdata/fuzz/FuzzParse and are replayed by every `go test`.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/invalid/*.yaml")
	more, _ := filepath.Glob("../scenarios/*.yaml")
	e2e, _ := filepath.Glob("../testdata/e2e/*.yaml")
	for _, path := range append(append(seeds, more...), e2e...) {
		if data, err := os.ReadFile(path); err == nil && len(data) < 64<<10 {
			f.Add(data)
		}
	}
	dir := f.TempDir()
	for _, name := range []string{"socat.json", "web.json"} {
		data, err := os.ReadFile(filepath.Join("../consul.d", name))
		if err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	path := filepath.Join(dir, "fuzz.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := parse(path, data)
		if err == nil {
			if sc == nil || len(sc.Items) == 0 {
				t.Fatalf("accepted without steps: %q", data)
			}
			return
		}
		var merr *multierror.Error
		if !errors.As(err, &merr) || len(merr.Errors) == 0 {
			t.Fatalf("error of type %T: %v", err, err)
		}
		for _, e := range merr.Errors {
			var se *spec.Error
			if !errors.As(e, &se) || se.Pos.Line < 1 || se.Pos.Col < 1 || se.Pos.File != path {
				t.Fatalf("error without a position: %v", e)
			}
		}
	})
}
