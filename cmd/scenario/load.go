package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// expand turns directories into the scenario files they hold, sorted.
func expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			files = append(files, p) // Load reports a missing file with its position
			continue
		}
		var found []string
		for _, pattern := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(p, pattern))
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s holds no scenario (*.yaml, *.yml)", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// consulJudge lets Consul itself judge service definitions while files
// load (`consul validate`), when a consul binary can be found.
func consulJudge(flag string) scenariofile.Option {
	var judge consuldef.ConsulJudge
	if bin, err := runner.FindConsul(flag); err == nil {
		judge.Consul = bin
	}
	return scenariofile.JudgedBy(judge)
}

// loadAll validates every file and prints every problem before anything
// starts; an invalid file does not stop the others from being read. Two
// scenarios may not share a name: they would share a log folder. The
// warnings stay in each scenario, for the command to show (validate and
// run do; list and graph do not).
func loadAll(files []string, stderr io.Writer, opts ...scenariofile.Option) ([]*runner.Scenario, []runner.InvalidFile) {
	var scenarios []*runner.Scenario
	var invalid []runner.InvalidFile
	byName := map[string]string{}
	for _, f := range files {
		// A FIFO or a device would block or never end: only regular files
		// are read (a missing file is reported by Load).
		if st, err := os.Stat(f); err == nil && !st.Mode().IsRegular() {
			err := fmt.Errorf("%s:1:1: not a regular file (%s); give a scenario file", f, "a "+runner.DescribeMode(st.Mode()))
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, runner.InvalidFile{File: f, Err: err})
			continue
		}
		sc, err := scenariofile.Load(f, steps.Default(), opts...)
		if err != nil {
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, runner.InvalidFile{File: f, Err: err})
			continue
		}
		if other, dup := byName[sc.Name]; dup {
			err := fmt.Errorf("%s:1:1: the scenario name %q is also the name of %s; two scenarios with one name would share a log folder and a report line: rename one (name: at the top of the file)", sc.File, sc.Name, other)
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, runner.InvalidFile{File: sc.File, Err: err})
			continue
		}
		byName[sc.Name] = sc.File
		scenarios = append(scenarios, sc)
	}
	return scenarios, invalid
}

// printWarnings prints the scenarios' warnings, one per line.
func printWarnings(scenarios []*runner.Scenario, w io.Writer) {
	for _, sc := range scenarios {
		for _, warning := range sc.Warnings {
			fmt.Fprintln(w, warning)
		}
	}
}
