package scenariofile

import (
	"strings"
	"testing"
	"time"
)

// A problem inside an anchor is reported at the anchor, and at each alias
// that brings it into a step: directly, through a merge key, and through
// another anchor; an alias where the same keys are fine reports nothing.
func TestProblemInAnAnchorIsReportedAtItsAliases(t *testing.T) {
	dir := writeFixtures(t)
	src := `x-probe: &probe {to: web/socat, sendd: "x\n", reply: "x\n"}
x-base: &base {to: web/socat, repl: "y"}
x-outer: &outer {<<: *base, send: "z"}
x-wait: &wait {within: 5s}
steps:
  - start-agent: {}
  - register: socat.json
  - register: web.json
  - expect: *probe
  - expect:
      <<: *base
      reply: "x\n"
  - expect: {<<: *outer, reply: "z"}
  - expect: {<<: *wait, to: web/socat, reply: "w"}
  - send: {<<: *wait, to: web/socat, data: "v"}
`
	_, msgs := parseIn(t, dir, src)
	got := strings.Join(msgs, "\n")
	for _, want := range []string{
		`1:33: expect: unknown key "sendd"`,
		`9:13: *probe brings in line 1, column 33: expect: unknown key "sendd"`,
		`2:31: expect: unknown key "repl"`,
		`11:11: *base brings in line 2, column 31: expect: unknown key "repl"`,
		`13:18: *outer brings in line 2, column 31: expect: unknown key "repl"`, // *base through *outer
		`15:16: *wait brings in line 4, column 16: send: unknown key "within"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in:\n%s", want, got)
		}
	}
	for _, avoid := range []string{"14:", "3:22:"} {
		for _, m := range msgs {
			if strings.HasPrefix(m, avoid) {
				t.Errorf("reported where nothing is wrong: %s", m)
			}
		}
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m] {
			t.Errorf("reported twice: %s", m)
		}
		seen[m] = true
	}
}

// A problem deep inside merge keys that merge one anchor many times is
// reported at the step's alias at once, without expanding the merges.
func TestProblemInAMergeKeyBombIsReportedQuickly(t *testing.T) {
	done := make(chan error, 1)
	go func() { _, err := parse("bomb.yaml", []byte(mergeBomb("timeout: 5s, tiemout: 1s"))); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "bomb.yaml:18:10: *a15 brings in line 1, column 24:") {
			t.Errorf("error: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("merge keys expanded exponentially")
	}
}
