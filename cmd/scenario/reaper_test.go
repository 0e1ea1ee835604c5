package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/proc"
)

// A process that runs on after its scenario ends (a test binary running
// one scenario after another, the way these tests do) starts a reaper for
// each; the reaper of a run that ended cleanly must not kill what the
// next run starts in the same process's cgroup.
func TestALaterRunsProcessesOutliveTheReaperOfAnEarlierOne(t *testing.T) {
	testenv.Need(t, testenv.Cells(proc.CellsAvailable), testenv.Program("sleep"))
	dir := t.TempDir()
	first := filepath.Join(dir, "first.yaml")
	if err := os.WriteFile(first, []byte("name: first\nsteps:\n  - exec: {command: \"true\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The second run's command outlives the first run's reaper's wait
	// for its runner (reaper.runnerExitWait).
	second := filepath.Join(dir, "second.yaml")
	if err := os.WriteFile(second, []byte("name: second\nsteps:\n  - exec: {command: \"sleep 1.5\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	var out strings.Builder
	if code := run([]string{"run", "--logs", logs, first}, &out, io.Discard); code != 0 {
		t.Fatalf("the first run: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"run", "--logs", logs, second}, &out, io.Discard); code != 0 {
		t.Fatalf("the second run: exit %d\n%s", code, out.String())
	}
}

// Runs of one process side by side (tests calling the CLI in parallel)
// share the process's cgroup: the one that ends first must neither kill
// the other's processes nor leave its reaper to kill them.
func TestRunsSideBySideInOneProcessDoNotEndEachOther(t *testing.T) {
	testenv.Need(t, testenv.Cells(proc.CellsAvailable), testenv.Program("sleep"))
	dir := t.TempDir()
	short := filepath.Join(dir, "short.yaml")
	if err := os.WriteFile(short, []byte("name: short\nsteps:\n  - exec: {command: \"true\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, "long.yaml")
	if err := os.WriteFile(long, []byte("name: long\nsteps:\n  - exec: {command: \"sleep 1.5\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	longDone := make(chan string, 1)
	go func() {
		var out strings.Builder
		if code := run([]string{"run", "--logs", logs, long}, &out, io.Discard); code != 0 {
			longDone <- fmt.Sprintf("exit %d\n%s", code, out.String())
			return
		}
		longDone <- ""
	}()
	var out strings.Builder
	if code := run([]string{"run", "--logs", logs, short}, &out, io.Discard); code != 0 {
		t.Errorf("the short run: exit %d\n%s", code, out.String())
	}
	if failed := <-longDone; failed != "" {
		t.Errorf("the long run, beside the short one: %s", failed)
	}
}
