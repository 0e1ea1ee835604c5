package proc

import (
	"sync"

	"golang.org/x/sys/unix"
)

// A Guardian learns of every process group this process starts and ends,
// so that it can kill the groups still running if this process dies
// without stopping them (SIGKILL, a crash). See package reaper.
type Guardian interface {
	Watch(pgid int)
	Unwatch(pgid int)
}

var (
	guardianMu sync.Mutex
	guardian   Guardian
)

// SetGuardian makes g hear of every process group started from now on.
func SetGuardian(g Guardian) {
	guardianMu.Lock()
	defer guardianMu.Unlock()
	guardian = g
}

// Watch tells the guardian, if any, that group pgid was started. Code that
// starts a process group itself (exec steps) calls it; Start does.
func Watch(pgid int) {
	guardianMu.Lock()
	g := guardian
	guardianMu.Unlock()
	if g != nil {
		g.Watch(pgid)
	}
}

// Unwatch tells the guardian that group pgid is gone.
func Unwatch(pgid int) {
	guardianMu.Lock()
	g := guardian
	guardianMu.Unlock()
	if g != nil {
		g.Unwatch(pgid)
	}
}

// BecomeSubreaper makes this process adopt its descendants orphaned by
// their parent (socat's forked children, a shell's background jobs), so
// that they stay within reach instead of moving to init; KillGroup reaps
// the ones of a group it kills.
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// A NetnsGuardian also removes named network namespaces (a topology's
// nodes) if this process dies before it does.
type NetnsGuardian interface {
	WatchNetns(name string)
	UnwatchNetns(name string)
}

// Namespaces is the registrar of a topology's namespaces: it tells the
// guardian, when it can remove them, of each one created and removed.
var Namespaces namespaces

type namespaces struct{}

func (namespaces) WatchNetns(name string) {
	guardianMu.Lock()
	g, ok := guardian.(NetnsGuardian)
	guardianMu.Unlock()
	if ok {
		g.WatchNetns(name)
	}
}

func (namespaces) UnwatchNetns(name string) {
	guardianMu.Lock()
	g, ok := guardian.(NetnsGuardian)
	guardianMu.Unlock()
	if ok {
		g.UnwatchNetns(name)
	}
}
