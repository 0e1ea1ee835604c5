package proc

import (
	"golang.org/x/sys/unix"
)

// A Guardian learns of every process group this process starts and ends,
// so that it can kill the groups still running if this process dies
// without stopping them (SIGKILL, a crash). See package reaper.
type Guardian interface {
	Watch(pgid int)
	Unwatch(pgid int)
}

// watch tells g, if any, that group pgid was started.
func watch(g Guardian, pgid int) {
	if g != nil {
		g.Watch(pgid)
	}
}

// unwatch tells g, if any, that group pgid is gone.
func unwatch(g Guardian, pgid int) {
	if g != nil {
		g.Unwatch(pgid)
	}
}

// BecomeSubreaper makes this process adopt its descendants orphaned by
// their parent (socat's forked children, a shell's background jobs), so
// that they stay within reach instead of moving to init; KillGroup reaps
// the ones of a group it kills, and ReapOrphans, run each time a child
// ends, those that end while the run goes on.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	reapOrphansAsTheyEnd()
	return nil
}

// A NetnsGuardian also removes named network namespaces (a topology's
// nodes) if this process dies before it does.
type NetnsGuardian interface {
	WatchNetns(name string)
	UnwatchNetns(name string)
}

// NamespacesOf is the registrar of a topology's namespaces for g: it
// tells g, when g can remove them (a NetnsGuardian), of each one created
// and removed. g may be nil: nobody is told.
func NamespacesOf(g Guardian) NetnsGuardian {
	ng, _ := g.(NetnsGuardian)
	return namespaces{ng}
}

type namespaces struct{ g NetnsGuardian }

func (n namespaces) WatchNetns(name string) {
	if n.g != nil {
		n.g.WatchNetns(name)
	}
}

func (n namespaces) UnwatchNetns(name string) {
	if n.g != nil {
		n.g.UnwatchNetns(name)
	}
}
