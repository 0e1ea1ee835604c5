package steps

import "testing"

// A registration on a node goes beside one still settling on another
// node, never beside one on its own node; on the host it stays a one-call
// step.
func TestRegistrationsOnOtherNodesGoBesideEachOther(t *testing.T) {
	app1, app2, app1Again := (&register{}).on("app1"), (&register{}).on("app2"), (&register{}).on("app1")
	if !app2.(Beside).Beside(app1) {
		t.Error("a registration on app2 waits for one on app1")
	}
	if app1Again.(Beside).Beside(app1) {
		t.Error("a registration on app1 goes beside another on app1")
	}
	if _, starts := (&register{}).on("").(Starter); starts {
		t.Error("a registration on the host is left to settle")
	}
}
