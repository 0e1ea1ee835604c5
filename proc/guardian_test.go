package proc

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

type recordingGuardian struct {
	mu     sync.Mutex
	events []string
	live   map[int]bool
}

func (g *recordingGuardian) Watch(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = append(g.events, "watch")
	g.live[pgid] = true
}

func (g *recordingGuardian) Unwatch(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = append(g.events, "unwatch")
	delete(g.live, pgid)
}

// The guardian given in a Spec hears of the group from Start until Stop
// has killed it.
func TestTheSpecsGuardianHearsOfTheGroupUntilItIsKilled(t *testing.T) {
	mine := &recordingGuardian{live: map[int]bool{}}
	p, err := Start(Spec{Name: "t", Argv: []string{"/bin/sh", "-c", "exec cat"}, LogPath: filepath.Join(t.TempDir(), "t.log"), Guardian: mine})
	if err != nil {
		t.Fatal(err)
	}
	if !mine.live[p.Pid()] {
		t.Errorf("the guardian did not hear of group %d at Start: %v", p.Pid(), mine.events)
	}
	p.Stop(0, closed())
	if mine.live[p.Pid()] || !slices.Equal(mine.events, []string{"watch", "unwatch"}) {
		t.Errorf("after Stop the guardian heard %v and still watches %v", mine.events, mine.live)
	}
	// Without a guardian that removes namespaces, nobody is told.
	NamespacesOf(nil).WatchNetns("ignored")
	NamespacesOf(mine).UnwatchNetns("ignored")
}
