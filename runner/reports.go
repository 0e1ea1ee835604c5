package runner

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Formats of the report on Reports.Out (run's --format).
const (
	FormatText      = "text"
	FormatJSON      = "json"
	FormatTest2JSON = "test2json"
)

// Reports are what a Suite tells of its runs as they go: the report on
// Out in Format, and the files written once every scenario has ended.
// Whether Out is a terminal, and whether to colour it, is the command's
// to say.
type Reports struct {
	Out    io.Writer // nil: no report on it
	Format string    // FormatText (the default), FormatJSON or FormatTest2JSON
	// Color and Terminal are for FormatText: a terminal shows the step
	// running, unless the scenarios run at once (their lines are grouped).
	Color, Terminal bool
	JUnit           string // when set, the JUnit XML file (--junit)
	// HTML, when set, is the file WriteHTML writes once every scenario has
	// ended (--html). The command gives WriteHTML: its package
	// (runner/htmlreport) builds on this one.
	HTML      string
	WriteHTML func(file string, events []Event) error
}

// An InvalidFile is a scenario file that failed validation, and why.
type InvalidFile struct {
	File string
	Err  error
}

// open builds the observers of the reports, with the invalid files
// recorded as failed scenarios (JUnit, test2json); grouped is true when
// scenarios run at once. finish writes the files once every scenario has
// ended.
func (r Reports) open(grouped bool, invalid []InvalidFile) (Observer, func() error, error) {
	var obs Observers
	finish := func() error { return nil }
	switch {
	case r.Out == nil:
	case r.Format == FormatJSON:
		js := NewJSONStream(r.Out)
		obs = append(obs, js)
		// An invalid file is a failed scenario in the stream too, so that
		// `scenario report` of it shows what the run skipped.
		for _, e := range invalidEvents(invalid) {
			js.Observe(e)
		}
	case r.Format == FormatTest2JSON:
		t2j := NewTest2JSON(r.Out)
		obs = append(obs, t2j)
		finish = func() error { t2j.Close(); return nil }
		// An invalid file is a failing test: what is wrong, where.
		for _, e := range invalidEvents(invalid) {
			t2j.Observe(e)
		}
	default:
		var rep Observer = NewReporter(r.Out, r.Color, r.Terminal && !grouped)
		if grouped {
			rep = GroupByScenario(rep)
		}
		obs = append(obs, rep)
	}
	if r.HTML != "" {
		if r.WriteHTML == nil {
			return nil, nil, errors.New("--html: this command cannot write HTML reports (Reports.WriteHTML is not set)")
		}
		c := &collector{}
		obs = append(obs, c)
		for _, e := range invalidEvents(invalid) {
			c.Observe(e)
		}
		before := finish
		finish = func() error {
			err := before()
			if werr := r.WriteHTML(r.HTML, c.events()); werr != nil {
				return errors.Join(err, fmt.Errorf("--html: %w", werr))
			}
			return err
		}
	}
	if r.JUnit != "" {
		j, err := NewJUnitFile(r.JUnit)
		if err != nil {
			return nil, nil, fmt.Errorf("--junit: %w", err)
		}
		obs = append(obs, j)
		// An invalid file is a suite with one error: what is wrong, where.
		for _, e := range invalidEvents(invalid) {
			j.Observe(e)
		}
		before := finish
		finish = func() error {
			err := before()
			if jerr := j.Close(); jerr != nil {
				return errors.Join(err, fmt.Errorf("--junit: %w", jerr))
			}
			return err
		}
	}
	return obs, finish, nil
}

// RecordInvalid writes the reports of a suite that starts nothing because
// files are invalid, where a CI or a person looks: the JUnit file, the
// HTML report, and the test2json or JSON stream.
func (r Reports) RecordInvalid(invalid []InvalidFile) error {
	streams := r.Format == FormatTest2JSON || r.Format == FormatJSON
	if r.JUnit == "" && r.HTML == "" && !streams {
		return nil
	}
	if !streams {
		r.Out, r.Terminal = io.Discard, false
	}
	_, finish, err := r.open(false, invalid)
	if err != nil {
		return err
	}
	return finish()
}

// invalidEvents are the events of a scenario that failed before it
// started, one for each invalid file, named after the file (its name is
// not known).
func invalidEvents(invalid []InvalidFile) []Event {
	var events []Event
	for _, inv := range invalid {
		name := strings.TrimSuffix(filepath.Base(inv.File), filepath.Ext(inv.File))
		now := time.Now()
		events = append(events,
			Event{Event: "scenario-start", Time: now, Scenario: name, File: inv.File},
			Event{Event: "scenario-end", Time: now, Scenario: name, File: inv.File,
				Outcome: OutcomeFailed, Error: "invalid scenario file:\n" + inv.Err.Error()})
	}
	return events
}

// collector keeps the events of a run as they come, for the HTML report
// once it has ended.
type collector struct {
	mu  sync.Mutex
	all []Event
}

func (c *collector) Observe(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, e)
}

func (c *collector) events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.all)
}
