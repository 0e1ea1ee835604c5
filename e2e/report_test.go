package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/runner/htmlreport"
)

// reportFiles are the runs the report test shows: a topology with every
// kind of thing the timeline draws (first: the README's screenshot shows
// it), a scenario that fails, and one that passes.
var reportFiles = []string{"testdata/e2e/report-topology.yaml", "testdata/e2e/expects-reply-when-denied.yaml", "scenarios/basic.yaml"}

// The HTML report of a real run, opened from file:// in a real headless
// Chromium: it loads with no console error and makes no request but its
// own file; each timeline has a bar for every step that ran and a lane for
// every process the events name; the failed step is shown with its
// evidence open, a passing step's evidence opens on a click, and a bar
// leads to its step; the topology is an SVG; the failed-only filter hides
// what passed. scenario report makes the same file from the --json
// stream. The test also takes the README's screenshot, and writes it to
// docs/report.png under SCENARIO_UPDATE_SCREENSHOT=1.
func TestHTMLReportWorksInABrowser(t *testing.T) {
	needMesh(t, namespaces, testenv.Program("chromium"))
	const chromium = "chromium" // Debian's, found on PATH
	dir := t.TempDir()
	report := filepath.Join(dir, "report.html")
	r := scenario(t, append([]string{"run", "--json", "--html", report}, reportFiles...)...)
	r.mustExit(t, 1)
	streamPath := filepath.Join(dir, "events.json")
	if err := os.WriteFile(streamPath, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	events, err := htmlreport.ReadEvents(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	direct, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(dir, "again.html")
	if out, err := exec.Command(scenarioBin, "report", streamPath, "-o", again).CombinedOutput(); err != nil {
		t.Fatalf("scenario report: %v\n%s", err, out)
	}
	if saved, _ := os.ReadFile(again); !bytes.Equal(saved, direct) {
		t.Error("scenario report made another file from the --json stream than run --html")
	}
	t.Logf("report of %d scenarios: %d bytes", len(reportFiles), len(direct))

	want := expectations(events)
	b := openBrowser(t, chromium)
	b.run(t, chromedp.Navigate("file://"+report), chromedp.WaitReady("footer"))

	for _, sc := range want {
		var got struct {
			Bars, Lanes, Skipped, Topology int
			Procs                          []string
		}
		b.eval(t, fmt.Sprintf(`(() => { const s = document.getElementById(%q); return {
			Bars: s.querySelectorAll("svg.timeline rect.bar.step").length,
			Lanes: s.querySelectorAll("svg.timeline g.lane.proc").length,
			Procs: [...s.querySelectorAll("svg.timeline g.lane.proc")].map(g => g.dataset.proc),
			Skipped: s.querySelectorAll("svg.timeline text.skipped").length,
			Topology: s.querySelectorAll(".graph svg.topology g, .graph svg.topology text").length,
		}; })()`, sc.id), &got)
		slices.Sort(got.Procs)
		if got.Bars != sc.began || got.Bars+got.Skipped != sc.steps {
			t.Errorf("%s: %d step bars and %d skipped rows, want %d bars of %d steps", sc.name, got.Bars, got.Skipped, sc.began, sc.steps)
		}
		if got.Lanes != len(sc.procs) || !slices.Equal(got.Procs, sc.procs) {
			t.Errorf("%s: lanes %q, want one for each process the events name: %q", sc.name, got.Procs, sc.procs)
		}
		if got.Topology == 0 {
			t.Errorf("%s: no topology SVG", sc.name)
		}
		if sc.name == "report-topology" {
			var n struct{ Faults, Conns, Changes, Ticks int }
			b.eval(t, fmt.Sprintf(`(() => { const s = document.getElementById(%q); return {
				Faults: s.querySelectorAll("rect.fault").length, Conns: s.querySelectorAll("rect.conn").length,
				Changes: s.querySelectorAll("path.change").length, Ticks: s.querySelectorAll("rect.tick").length }; })()`, sc.id), &n)
			if n.Faults != 2 || n.Conns != 1 || n.Changes != 1 || n.Ticks < 2 {
				t.Errorf("report-topology's timeline: %+v, want 2 faults (the loss, the cut cable), 1 held connection, 1 intention change, probe ticks", n)
			}
		}
	}

	// The failed step: shown, its evidence open and on screen once its
	// bar is clicked.
	failed := want[1]
	if failed.name != "expects-reply-when-denied" || failed.failedStep == 0 {
		t.Fatalf("the runs came out in another order: %+v", want)
	}
	stepID := fmt.Sprintf("%s-step-%d", failed.id, failed.failedStep)
	b.run(t, chromedp.Click(fmt.Sprintf(`#%s rect.bar.step.o-failed`, failed.id), chromedp.ByQuery))
	var ev struct {
		Hash, Error, Logs string
		Open, OnScreen    bool
	}
	b.eval(t, fmt.Sprintf(`(() => { const d = document.getElementById(%q); const r = d.querySelector("pre.error").getBoundingClientRect(); return {
		Hash: location.hash, Open: d.open, Error: d.querySelector("pre.error").innerText,
		Logs: [...d.querySelectorAll("pre.log")].map(p => p.innerText).join("\n"),
		OnScreen: r.height > 0 && r.top >= 0 && r.bottom <= innerHeight }; })()`, stepID), &ev)
	if ev.Hash != "#"+stepID || !ev.Open || !ev.OnScreen || !strings.Contains(ev.Error, `expected reply "hello\n"`) || !strings.Contains(ev.Logs, "Action: DENY") {
		t.Errorf("the failed step's evidence: %+v", ev)
	}
	// A passing step's evidence opens on a click of its summary.
	passing := fmt.Sprintf("%s-step-1", want[2].id)
	var opened bool
	b.run(t, chromedp.Click("#"+passing+" > summary", chromedp.ByQuery))
	b.eval(t, fmt.Sprintf(`document.getElementById(%q).open && document.querySelector("#%s .evidence").getBoundingClientRect().height > 0`, passing, passing), &opened)
	if !opened {
		t.Error("a passing step's evidence did not open on a click")
	}
	// Styled and scripted: the hashed style and script ran.
	var fill string
	b.eval(t, `getComputedStyle(document.querySelector("rect.bar.step.o-passed")).fill`, &fill)
	if fill != "rgb(30, 142, 62)" {
		t.Errorf("a passed bar is filled %q: the report's style did not apply", fill)
	}
	// Failed only: the passing scenario goes, the failing one stays.
	b.run(t, chromedp.Click("#failed-only", chromedp.ByID))
	var shown struct{ Passing, Failing bool }
	b.eval(t, fmt.Sprintf(`({Passing: document.getElementById(%q).offsetParent !== null, Failing: document.getElementById(%q).offsetParent !== null})`, want[2].id, failed.id), &shown)
	if shown.Passing || !shown.Failing {
		t.Errorf("failed only: %+v", shown)
	}
	b.run(t, chromedp.Click("#failed-only", chromedp.ByID))

	// The README's screenshot is rewritten only when asked, so that a
	// test run leaves the checkout as it found it.
	shot := filepath.Join(t.TempDir(), "report.png")
	if os.Getenv("SCENARIO_UPDATE_SCREENSHOT") == "1" {
		shot = filepath.Join(repoRoot, "docs", "report.png")
	}
	b.screenshot(t, want[0].id, shot)
	b.check(t)
}

// scenarioWant is what the events say a scenario's report must show.
type scenarioWant struct {
	id, name     string
	steps, began int
	procs        []string
	failedStep   int
}

func expectations(events []runner.Event) []scenarioWant {
	var out []scenarioWant
	var cur *scenarioWant
	for _, e := range events {
		switch e.Event {
		case "scenario-start":
			out = append(out, scenarioWant{id: fmt.Sprintf("s%d", len(out)+1), name: e.Scenario, steps: e.Steps})
			cur = &out[len(out)-1]
		case "step-start":
			cur.began++
		case "process-start":
			name := e.Process.Name
			if e.Process.Node != "" {
				name = e.Process.Node + "/" + name
			}
			if !slices.Contains(cur.procs, name) {
				cur.procs = append(cur.procs, name)
			}
		case "scenario-end":
			cur.failedStep = e.FailedStep
			slices.Sort(cur.procs)
		}
	}
	return out
}

// browser is a headless Chromium tab that records every request the page
// makes and every error it logs.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	errors   []string
}

func openBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	// No network of its own: no update, sync, QUIC or first-run checks;
	// a fresh profile.
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900),
	)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	b := &browser{ctx: tab}
	chromedp.ListenTarget(tab, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type == cdpruntime.APITypeError || ev.Type == cdpruntime.APITypeWarning || ev.Type == cdpruntime.APITypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.errors = append(b.errors, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *cdpruntime.EventExceptionThrown:
			b.errors = append(b.errors, "exception: "+ev.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.LevelError || ev.Entry.Level == log.LevelWarning {
				b.errors = append(b.errors, fmt.Sprintf("%s %s: %s %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	b.run(t, network.Enable(), log.Enable(), cdpruntime.Enable())
	return b
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

func (b *browser) eval(t *testing.T, js string, out any) {
	t.Helper()
	var raw json.RawMessage
	b.run(t, chromedp.Evaluate(js, &raw))
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: %v (%s)", js, err, raw)
	}
}

// check fails for any console error and for any request but the page's
// own file.
func (b *browser) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		t.Errorf("the page logged %s", e)
	}
	if len(b.requests) == 0 {
		t.Error("no request seen at all: the network listener heard nothing, so the check below proves nothing")
	}
	for _, u := range b.requests {
		if !strings.HasPrefix(u, "file://") || !strings.HasSuffix(u, "/report.html") {
			t.Errorf("the page requested %s", u)
		}
	}
}

// screenshot writes the top of the report down to the end of scenario
// id's timeline legend, 1200 pixels wide, as a PNG.
func (b *browser) screenshot(t *testing.T, id, path string) {
	t.Helper()
	var bottom float64
	b.eval(t, fmt.Sprintf(`document.querySelector("#%s .legend").getBoundingClientRect().bottom + scrollY + 8`, id), &bottom)
	var shot []byte
	b.run(t, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		shot, err = page.CaptureScreenshot().WithFormat(page.CaptureScreenshotFormatPng).WithCaptureBeyondViewport(true).
			WithClip(&page.Viewport{X: 0, Y: 0, Width: 1200, Height: bottom, Scale: 1}).Do(ctx)
		return err
	}))
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() != 1200 {
		t.Fatalf("screenshot: %v, %v", err, img.Bounds())
	}
	// As Chromium wrote it: Go's encoder, even at its best, makes it larger.
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %dx%d, %d bytes", path, img.Bounds().Dx(), img.Bounds().Dy(), len(shot))
}
