package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

func init() {
	run := func(ctx context.Context, env steps.Env) error {
		env.Table([]string{"legend", "      socat", "web   allow", "api   allow!(D:deny)"}, []steps.TableCell{
			{Name: "web -> socat", Passed: true, Detail: "observed allow [round trip]"},
			{Name: "api -> socat", Passed: false, Detail: "observed allow, declared deny -- the evidence"},
		})
		return errors.New("1 of 2 cells do not hold")
	}
	testTypes = append(testTypes, funcType("test-table", run))
}

// A step's table is shown under it in the report, and each of its cells
// is a test case of its own: in JUnit after the step's, in test2json as a
// subtest of the step.
func TestTableCellsAreTestCasesOfTheirOwn(t *testing.T) {
	dir := t.TempDir()
	sc, err := scenariofile.Parse(filepath.Join(dir, "s.yaml"), []byte("name: tab\nsteps:\n  - test-table: {}\n"), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var text, t2jOut, junitOut bytes.Buffer
	junit := NewJUnit()
	t2j := NewTest2JSON(&t2jOut)
	Run(context.Background(), sc, Options{Observer: Observers{NewReporter(&text, false, false), junit, t2j}, LogsDir: filepath.Join(dir, "logs"), Grace: 100 * time.Millisecond})
	t2j.Close()
	if err := junit.Write(&junitOut); err != nil {
		t.Fatal(err)
	}
	outputHas(t, text.String(), "FAIL  1 test-table", "web   allow\n", "api   allow!(D:deny)\n", "1 of 2 cells do not hold")
	outputHas(t, junitOut.String(), `tests="3" failures="2"`, `name="01 test-table: test-table / web -&gt; socat"`,
		`name="01 test-table: test-table / api -&gt; socat"`, `<failure message="api -&gt; socat: observed allow, declared deny" type="cell failed">`)
	var verdicts []string
	lines := bufio.NewScanner(&t2jOut)
	for lines.Scan() {
		var e TestEvent
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Action == "pass" || e.Action == "fail" {
			verdicts = append(verdicts, e.Action+" "+e.Test)
		}
	}
	want := "pass tab/01_test-table_test-table/web_->_socat\nfail tab/01_test-table_test-table/api_->_socat\nfail tab/01_test-table_test-table\nfail tab\nfail "
	if got := strings.Join(verdicts, "\n"); got != want {
		t.Errorf("test2json verdicts:\n%s\nwant:\n%s", got, want)
	}
}
