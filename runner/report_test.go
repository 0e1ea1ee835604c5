package runner

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/wait"
)

type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// On a terminal a waiting step shows itself and its elapsed time; off a
// terminal nothing of it is written.
func TestProgressOnlyOnATerminal(t *testing.T) {
	step := &StepEvent{Index: 6, Type: "sidecar", Label: "web", Pos: "f:1:1"}
	for _, live := range []bool{true, false} {
		var out syncBuilder
		r := NewReporter(&out, false, live)
		r.Observe(Event{Event: "step-start", Scenario: "s", Step: step})
		if live {
			drawn := wait.Func("the progress line to be drawn", func(context.Context) error {
				if !strings.Contains(out.String(), "\r") {
					return errors.New("not drawn yet")
				}
				return nil
			})
			if err := wait.For(context.Background(), drawn, wait.Options{Timeout: 3 * time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		ended := *step
		ended.Outcome, ended.DurationMS = OutcomePassed, 250
		r.Observe(Event{Event: "step-end", Scenario: "s", Step: &ended})
		got := out.String()
		if live && (!strings.Contains(got, "\r  ...   6 sidecar          web") || !strings.HasSuffix(got, "\r\x1b[K  ok    6 sidecar          web (250ms)\n")) {
			t.Errorf("live: %q", got)
		}
		if !live && got != "  ok    6 sidecar          web (250ms)\n" {
			t.Errorf("not live: %q", got)
		}
	}
}
