package runner

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// JUnit collects events into a JUnit XML report: one testsuite per
// scenario, one testcase per step, failures with their message, and the
// failing step's log tails in system-out.
type JUnit struct {
	mu     sync.Mutex
	suites []*junitSuite
	open   map[string]*junitSuite
}

func NewJUnit() *JUnit { return &JUnit{open: map[string]*junitSuite{}} }

type junitSuites struct {
	XMLName  xml.Name      `xml:"testsuites"`
	Name     string        `xml:"name,attr"`
	Tests    int           `xml:"tests,attr"`
	Failures int           `xml:"failures,attr"`
	Errors   int           `xml:"errors,attr"`
	Skipped  int           `xml:"skipped,attr"`
	Time     string        `xml:"time,attr"`
	Suites   []*junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string       `xml:"name,attr"`
	Tests     int          `xml:"tests,attr"`
	Failures  int          `xml:"failures,attr"`
	Errors    int          `xml:"errors,attr"`
	Skipped   int          `xml:"skipped,attr"`
	Time      string       `xml:"time,attr"`
	Timestamp string       `xml:"timestamp,attr"`
	File      string       `xml:"file,attr,omitempty"`
	Cases     []*junitCase `xml:"testcase"`
	SystemOut string       `xml:"system-out,omitempty"`
	seconds   float64
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }

func (j *JUnit) Observe(e Event) {
	// XML 1.0 cannot hold most control characters (an encoder writes
	// U+FFFD); they are shown escaped, as in the report.
	e = escapeEvent(e)
	j.mu.Lock()
	defer j.mu.Unlock()
	key := e.File + "\x00" + e.Scenario
	switch e.Event {
	case "scenario-start":
		s := &junitSuite{Name: e.Scenario, File: e.File, Timestamp: e.Time.UTC().Format("2006-01-02T15:04:05")}
		j.open[key] = s
		j.suites = append(j.suites, s)
	case "step-end":
		s := j.open[key]
		if s == nil {
			return
		}
		st := e.Step
		c := &junitCase{Name: fmt.Sprintf("%02d %s: %s", st.Index, st.Type, st.Label), Classname: e.Scenario, Time: seconds(st.DurationMS), File: e.File}
		firstLine := strings.SplitN(st.Error, "\n", 2)[0]
		switch st.Outcome {
		case OutcomeFailed:
			c.Failure = &junitMessage{Message: firstLine, Type: "step failed", Text: "at " + st.Pos + "\n" + st.Error}
			s.Failures++
		case OutcomeInterrupted:
			c.Error = &junitMessage{Message: firstLine, Type: "interrupted", Text: st.Error}
			s.Errors++
		case OutcomeSkipped:
			c.Skipped = &junitMessage{Message: "not run: an earlier step failed or the run was stopped"}
			s.Skipped++
		}
		var out strings.Builder
		for _, n := range st.Notes {
			out.WriteString("note: " + n + "\n")
		}
		for _, t := range st.Logs {
			fmt.Fprintf(&out, "%s (last %d lines):\n", t.Path, len(t.Lines))
			for _, l := range t.Lines {
				out.WriteString("  " + l + "\n")
			}
		}
		c.SystemOut = out.String()
		s.Cases = append(s.Cases, c)
		s.Tests++
		// A table's cells are test cases of their own, after their step.
		for _, cell := range st.Cells {
			cc := &junitCase{Name: c.Name + " / " + cell.Name, Classname: e.Scenario, Time: "0", File: e.File, SystemOut: cell.Detail + "\n"}
			switch cell.Outcome {
			case OutcomePassed:
			case OutcomeSkipped:
				cc.Skipped = &junitMessage{Message: cell.Detail}
				s.Skipped++
			default:
				cc.Failure = &junitMessage{Message: cell.Name + ": " + strings.SplitN(cell.Detail, " -- ", 2)[0], Type: "cell failed", Text: "at " + st.Pos + "\n" + cell.Detail}
				s.Failures++
			}
			s.Cases = append(s.Cases, cc)
			s.Tests++
		}
	case "bundle":
		if s := j.open[key]; s != nil {
			s.SystemOut += fmt.Sprintf("debug bundle: %s\n", e.Bundle)
		}
	case "cleanup":
		if s := j.open[key]; s != nil {
			for _, line := range cleanupLines(e) {
				s.SystemOut += line + "\n"
			}
		}
	case "scenario-end":
		s := j.open[key]
		if s == nil {
			return
		}
		s.seconds = e.DurationMS / 1000
		s.Time = seconds(e.DurationMS)
		s.SystemOut += fmt.Sprintf("%s: %s (logs: %s)\n", e.Scenario, e.Outcome, e.LogsDir)
		if e.Outcome == OutcomeFailed && e.FailedStep == 0 && e.Error != "" {
			s.Cases = append(s.Cases, &junitCase{Name: "setup", Classname: e.Scenario, Time: "0",
				Error: &junitMessage{Message: e.Error, Type: "setup"}})
			s.Tests++
			s.Errors++
		}
		delete(j.open, key)
	}
}

// Write writes the report.
func (j *JUnit) Write(w io.Writer) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	all := junitSuites{Name: "scenario", Suites: j.suites}
	total := 0.0
	for _, s := range j.suites {
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		all.Skipped += s.Skipped
		total += s.seconds
	}
	all.Time = fmt.Sprintf("%.3f", total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// JUnitFile is a JUnit report kept on disk while the run goes: the file
// is rewritten each time a scenario ends, by writing a temporary file
// beside it and renaming it over, so that the file is always whole and
// valid, and a run killed midway leaves the report of what finished.
type JUnitFile struct {
	*JUnit
	path string
	mu   sync.Mutex
	err  error
}

// NewJUnitFile writes an empty report to path at once, so that a bad path
// is reported before anything starts.
func NewJUnitFile(path string) (*JUnitFile, error) {
	f := &JUnitFile{JUnit: NewJUnit(), path: path}
	if err := f.save(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *JUnitFile) Observe(e Event) {
	f.JUnit.Observe(e)
	if e.Event == "scenario-end" {
		_ = f.save()
	}
}

// Close writes the final report and returns the first error of any write.
func (f *JUnitFile) Close() error {
	_ = f.save()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *JUnitFile) save() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := WriteFileAtomic(f.path, f.JUnit.Write)
	if err != nil && f.err == nil {
		f.err = err
	}
	return err
}

// WriteFileAtomic replaces path by what write writes, through a temporary
// file in the same folder and a rename: a reader sees the old file or the
// new one, never a part.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
