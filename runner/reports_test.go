package runner

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A suite's reports hear its runs and record the files that did not
// load as failed scenarios: in the test2json stream and the JUnit file;
// the HTML report gets every event once the suite has ended.
func TestSuiteReportsRecordInvalidFilesBesideItsRuns(t *testing.T) {
	s := suiteOf(t, passing)
	s.Options.Observer = nil
	dir := t.TempDir()
	var out bytes.Buffer
	var html []Event
	s.Invalid = []InvalidFile{{File: filepath.Join(dir, "broken.yaml"), Err: errors.New("broken.yaml:3:5: no step type \"exe\"")}}
	s.Reports = Reports{Out: &out, Format: FormatTest2JSON, JUnit: filepath.Join(dir, "junit.xml"), HTML: filepath.Join(dir, "report.html"),
		WriteHTML: func(_ string, events []Event) error { html = events; return nil }}
	got := run(t, s)
	if len(got.Results) != 1 || got.Results[0].Outcome != Passed || got.ReportErr != nil {
		t.Fatalf("results %+v, report error %v", got.Results, got.ReportErr)
	}
	for _, want := range []string{`"Test":"broken","Output":"--- FAIL: broken`, `"Test":"passes","Output":"--- PASS: passes`, `no step type \"exe\"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the test2json stream lacks %s:\n%s", want, out.String())
		}
	}
	junit, _ := os.ReadFile(s.Reports.JUnit)
	for _, want := range []string{`<testsuite name="broken"`, `<testsuite name="passes"`} {
		if !strings.Contains(string(junit), want) {
			t.Errorf("the JUnit file lacks %s:\n%s", want, junit)
		}
	}
	if len(html) == 0 || html[len(html)-1].Event != "scenario-end" || html[len(html)-1].Scenario != "passes" {
		t.Errorf("the HTML report got %+v", html)
	}
	if len(html) < 2 || html[1].Scenario != "broken" || html[1].Outcome != OutcomeFailed || !strings.Contains(html[1].Error, `no step type "exe"`) {
		t.Errorf("the HTML report does not show the invalid file as failed: %+v", html)
	}
}

// An invalid file is a failed scenario in the JSON stream and the HTML
// report too, whether the valid files ran beside it or nothing started.
func TestInvalidFilesAreInTheJSONStreamAndTheHTMLReport(t *testing.T) {
	invalid := []InvalidFile{{File: "broken.yaml", Err: errors.New("broken.yaml:1:1: not a scenario")}}
	var out bytes.Buffer
	var html []Event
	r := Reports{Out: &out, Format: FormatJSON, HTML: filepath.Join(t.TempDir(), "report.html"),
		WriteHTML: func(_ string, events []Event) error { html = events; return nil }}
	if err := r.RecordInvalid(invalid); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"scenario":"broken","file":"broken.yaml","outcome":"failed","error":"invalid scenario file:\nbroken.yaml:1:1: not a scenario"`) {
		t.Errorf("the JSON stream: %s", out.String())
	}
	if len(html) != 2 || html[1].Outcome != OutcomeFailed || !strings.Contains(html[1].Error, "not a scenario") {
		t.Errorf("the HTML report got %+v", html)
	}
}

// When invalid files start nothing, the JUnit file still records them,
// and a text report says nothing on stdout (stderr has the errors).
func TestInvalidFilesThatStartNothingAreStillInTheJUnitFile(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	r := Reports{Out: &out, Format: FormatText, JUnit: filepath.Join(dir, "junit.xml")}
	if err := r.RecordInvalid([]InvalidFile{{File: "broken.yaml", Err: errors.New("broken.yaml:1:1: not a scenario")}}); err != nil {
		t.Fatal(err)
	}
	if junit, _ := os.ReadFile(r.JUnit); !strings.Contains(string(junit), `<testsuite name="broken"`) || !strings.Contains(string(junit), "not a scenario") {
		t.Errorf("the JUnit file: %s", junit)
	}
	if out.Len() > 0 {
		t.Errorf("the text report wrote %q", out.String())
	}
}
