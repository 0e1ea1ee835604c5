package runner

import (
	"context"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/steps"
)

// Against an existing cluster, a step whose type declares its changes
// undone must have said how when it passed (registered an undo): one
// that did not fails, so that a write step cannot leave the live cluster
// changed by forgetting; one that ran a command is listed as not undone.
func TestAgainstAnExistingClusterAStepIsHeldToItsDeclaredEffect(t *testing.T) {
	x := &execution{sess: &session{external: true}}
	undone := &Item{Index: 2, Type: "set-intention", Cluster: steps.Undone("put back")}
	if err := x.checkUndoable(undone, nil, 0); err == nil || !strings.Contains(err.Error(), "step 3 (set-intention) changed the live cluster but left no way to put it back") {
		t.Errorf("a write that registered no undo: %v", err)
	}
	x.sess.undos = append(x.sess.undos, undo{"intention put back", func(context.Context) error { return nil }})
	if err := x.checkUndoable(undone, nil, 0); err != nil {
		t.Errorf("a write that registered its undo: %v", err)
	}

	out := new(stepOutput)
	env := stepEnv{session: x.sess, out: out}
	x.noteNotUndone(&Item{Index: 4, Type: "exec", Label: "consul kv put a b", Cluster: steps.NotUndone("commands")}, env)
	x.noteNotUndone(&Item{Index: 5, Type: "expect", Label: "reads", Cluster: steps.Reads()}, env)
	if len(x.sess.notUndone) != 1 || x.sess.notUndone[0] != "step 5 (exec) consul kv put a b" || len(out.notes) != 1 {
		t.Errorf("not undone: %q, notes %q", x.sess.notUndone, out.notes)
	}

	// On the scenario's own cluster nothing of this applies.
	own := &execution{sess: &session{}}
	if err := own.checkUndoable(undone, nil, 0); err != nil {
		t.Errorf("own cluster: %v", err)
	}
}
