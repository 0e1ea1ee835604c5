package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
	"github.com/scenario-tool/scenario/wait"
)

// cleanupOrder are the processes test-start-three starts, oldest first:
// the middle one is disposable (killed at once), the others get SIGTERM
// and say, when it comes, which newer process still runs.
var cleanupOrder = []struct {
	name       string
	disposable bool
}{{"first", false}, {"second", true}, {"third", false}}

func init() {
	register := func(name string, run func(ctx context.Context, env steps.Env) error) {
		testTypes = append(testTypes, funcType(name, run))
	}
	register("test-start-three", func(ctx context.Context, env steps.Env) error {
		dir := env.RunDir()
		for i, p := range cleanupOrder {
			// On SIGTERM: each newer process must have exited (and been
			// reaped) already; the record says which had not.
			var newer []string
			for _, q := range cleanupOrder[i+1:] {
				newer = append(newer, q.name)
			}
			script := fmt.Sprintf(`cd %q; echo $$ > %s.pid
trap 'for n in %s; do kill -0 "$(cat $n.pid)" 2>/dev/null && echo "%s: $n still running" >> record; done; echo "%s got SIGTERM" >> record; exit 0' TERM
touch %s.ready; sleep 33.3 & wait`, dir, p.name, strings.Join(newer, " "), p.name, p.name, p.name)
			if _, err := env.Start(p.name, []string{"sh", "-c", script}, steps.StartOption{Disposable: p.disposable}); err != nil {
				return err
			}
			ready := filepath.Join(dir, p.name+".ready")
			if err := wait.For(ctx, wait.Func(p.name+" to be ready", func(context.Context) error { _, err := os.Stat(ready); return err }), wait.Options{}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Cleanup stops the processes newest first, each only once the one after
// it has ended: a process that gets SIGTERM finds every newer one gone.
// And no cell of the run's processes is left behind.
func TestCleanupStopsAProcessOnlyOnceEveryNewerOneHasEnded(t *testing.T) {
	dir := t.TempDir()
	sc, err := scenariofile.Parse(filepath.Join(dir, "s.yaml"), []byte("name: order\nsteps:\n  - test-start-three: {}\n"), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var stopped []string
	var ends []string
	// Observe is called from several goroutines: process-end comes from
	// each process's watcher.
	var mu sync.Mutex
	obs := observerFunc(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Event {
		case "cleanup":
			stopped = e.Stopped
		case "process-end":
			ends = append(ends, e.Process.Name)
		}
	})
	res := Run(context.Background(), sc, Options{Observer: obs, LogsDir: filepath.Join(dir, "logs"), Grace: 5 * time.Second})
	if res.Outcome != Passed {
		t.Fatalf("%+v", res)
	}
	if got, want := strings.Join(stopped, ","), "third,second,first"; got != want {
		t.Errorf("cleanup reports %s stopped, want %s", got, want)
	}
	if len(ends) != 3 {
		t.Errorf("process-end events: %v, want one for each of the three", ends)
	}
	record, err := os.ReadFile(filepath.Join(res.LogsDir, "record"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(record), "third got SIGTERM\nfirst got SIGTERM\n"; got != want {
		t.Errorf("what the processes saw at their SIGTERM:\n%swant:\n%s", got, want)
	}
	if cells := proc.RunCell(); cells != "" {
		entries, err := os.ReadDir(cells)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("the cell %s is left after the run", filepath.Join(cells, e.Name()))
			}
		}
	}
}
