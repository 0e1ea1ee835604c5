package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scenario report renders a saved --json stream to the file -o names, and
// refuses what is not one, saying where.
func TestReportRendersASavedEventStream(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.json")
	stream := `{"event":"scenario-start","time":"2026-01-02T03:04:05Z","scenario":"basic","file":"scenarios/basic.yaml","steps":1,"command":"scenario run --json scenarios/basic.yaml"}
{"event":"step-start","time":"2026-01-02T03:04:05.1Z","scenario":"basic","step":{"index":1,"type":"start-agent","label":"consul agent -dev","pos":"scenarios/basic.yaml:9:5"}}
{"event":"step-end","time":"2026-01-02T03:04:05.3Z","scenario":"basic","step":{"index":1,"type":"start-agent","label":"consul agent -dev","pos":"scenarios/basic.yaml:9:5","outcome":"passed","duration_ms":200}}
{"event":"scenario-end","time":"2026-01-02T03:04:05.4Z","scenario":"basic","steps":1,"outcome":"passed","duration_ms":400,"logs_dir":"logs/basic"}
`
	if err := os.WriteFile(events, []byte(stream), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.html")
	code, stdout, stderr := runCLI("report", events, "-o", out)
	if code != exitPassed || stdout != "" || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	html, _ := os.ReadFile(out)
	for _, want := range []string{"1 passed", "consul agent -dev", `class="bar step o-passed"`, "scenario run --json scenarios/basic.yaml"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"event":"scenario-start"}`+"\n{oops\n"), 0o644)
	if code, _, stderr := runCLI("report", bad, "-o", out); code != exitInvalid || !strings.Contains(stderr, "line 2") {
		t.Errorf("a broken stream: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI("report"); code != exitInvalid || !strings.Contains(stderr, "give one event file") {
		t.Errorf("no file: exit %d, %q", code, stderr)
	}
}
