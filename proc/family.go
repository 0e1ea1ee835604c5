package proc

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// FamilyVar is set in the environment of every process Start starts, to a
// value unique to that process. Its descendants inherit it, also those
// that leave its process group (setsid, setpgid): Family finds them by it,
// and Stop kills them too. A descendant that clears its environment is
// not found; nothing else names it as the process's.
const FamilyVar = "SCENARIO_FAMILY"

var familySeq atomic.Int64

// familyNonce tells this runner's marks from another's with the same pid
// (a runner in another pid namespace).
var familyNonce = rand.Uint64()

// NewFamily returns a family mark unique among this runner's processes and
// those of other runners alive at once.
func NewFamily() string {
	return fmt.Sprintf("%d.%x.%d", os.Getpid(), familyNonce, familySeq.Add(1))
}

// WithFamily returns env (the caller's when nil) with FamilyVar=mark in
// place of any inherited one (a runner started by a scenario's command).
func WithFamily(env []string, mark string) []string {
	if env == nil {
		env = os.Environ()
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !bytes.HasPrefix([]byte(kv), []byte(FamilyVar+"=")) {
			out = append(out, kv)
		}
	}
	return append(out, FamilyVar+"="+mark)
}

// Family lists the running processes of p's family: its process group's
// members, every process of its cell (whatever it did with its
// environment, session, group or parent) and every process that inherited
// p's family mark (the family where there are no cells).
func (p *Process) Family() []int {
	pids := GroupMembers(p.Pid())
	for _, pid := range append(p.cellMembers(), FamilyMembers(p.family)...) {
		if !slices.Contains(pids, pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Owns says whether the running process pid (with process group pgid) is
// of p's family.
func (p *Process) Owns(pid, pgid int) bool {
	if pgid == p.Pid() || p.cell != nil && p.cell.Holds(pid) {
		return true
	}
	return slices.Contains(FamilyMembers(p.family), pid)
}

// Contained says whether p's family is held by a cell (a cgroup), which
// it cannot leave; else only its group and family mark find it.
func (p *Process) Contained() bool { return p.cell != nil }

func (p *Process) cellMembers() []int {
	if p.cell == nil {
		return nil
	}
	return p.cell.Members()
}

// killCell kills every process of p's cell and removes it.
func (p *Process) killCell() {
	if p.cell != nil {
		_ = p.cell.Kill()
	}
}

// FamilyMembers lists the running (not zombie) processes whose environment
// holds FamilyVar=mark.
func FamilyMembers(mark string) []int {
	return Mark{Var: FamilyVar, Value: mark}.Processes(nil)
}

// killStrays kills the members of p's family that left its process group.
func (p *Process) killStrays() { KillFamily(p.family) }

// KillFamily kills the running processes marked with family mark (with
// their own groups, when they lead one) and waits, boundedly, until they
// have exited: a setsid'd child holds ports like any other.
func KillFamily(mark string) {
	// Rounds, as KillGroup's: a stray may fork between a scan and its kill.
	deadline := time.Now().Add(killSettle)
	for {
		strays := FamilyMembers(mark)
		if len(strays) == 0 {
			return
		}
		for _, pid := range strays {
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = AwaitExit(strays, time.Until(deadline))
		reapAdopted(strays)
		if !time.Now().Before(deadline) {
			return
		}
	}
}

// reapAdopted reaps those of pids that were orphaned to this process (a
// subreaper) and are now zombies; a child it started keeps its exit
// status for its own Wait.
func reapAdopted(pids []int) {
	startingOwn.Lock()
	defer startingOwn.Unlock()
	for _, pid := range pids {
		reapOrphan(pid)
	}
}
