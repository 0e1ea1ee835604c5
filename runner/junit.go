package runner

import (
	"encoding/xml"
	"fmt"
	"io"
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
	case "cleanup":
		if s := j.open[key]; s != nil {
			s.SystemOut += fmt.Sprintf("cleanup: stopped %s\n", strings.Join(e.Stopped, ", "))
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
