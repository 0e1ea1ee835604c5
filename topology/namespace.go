package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netns"

	"github.com/scenario-tool/scenario/internal/nsthread"
	scnetns "github.com/scenario-tool/scenario/netns"
	"golang.org/x/sys/unix"
)

// RunDir is where named network namespaces live, as `ip netns` keeps them:
// each name is an empty file with the namespace bind-mounted on it, which
// keeps the namespace alive without any process in it.
const RunDir = scnetns.RunDir

var runDirShared struct {
	sync.Mutex
	done bool
}

// shareRunDir makes RunDir a shared mount point, as `ip netns add` does:
// a process that copies the mount table (unshare --mount, ip netns exec)
// then sees a namespace's unmount too, instead of keeping a copy of its
// bind mount that would keep the namespace alive behind our back.
func shareRunDir() error {
	runDirShared.Lock()
	defer runDirShared.Unlock()
	if runDirShared.done {
		return nil
	}
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("making %s a shared mount point: %w", RunDir, err)
	}
	runDirShared.done = true
	return nil
}

// createNamed creates a network namespace and names it: RunDir/name,
// which must not exist. It returns an open handle to the namespace. On
// error nothing is left behind. The calling goroutine's thread is not
// changed.
func createNamed(name string) (netns.NsHandle, error) {
	if err := shareRunDir(); err != nil {
		return netns.None(), err
	}
	path := filepath.Join(RunDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return netns.None(), err // EEXIST: someone else's; not ours to remove
	}
	f.Close()
	var handle netns.NsHandle
	err = onOwnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting the new namespace on %s: %w", path, err)
		}
		var err error
		handle, err = netns.GetFromPath(path)
		return err
	})
	if err != nil {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
		return netns.None(), err
	}
	return handle, nil
}

// deleteNamed removes the name RunDir/name. The namespace itself ends when
// nothing else holds it (no process in it, no open handle or socket); its
// links end with it. A name already gone is not an error.
func deleteNamed(name string) error {
	_, err := scnetns.RemoveNamed(name)
	return err
}

// inNamespace runs fn on a locked OS thread inside the namespace target,
// then returns the thread home (see nsthread.OnOwnThread).
func inNamespace(target netns.NsHandle, fn func() error) error {
	return nsthread.In(int(target), fn)
}

// onOwnThread runs fn on a locked OS thread that fn may move to another
// namespace; the thread goes home afterwards (see nsthread.OnOwnThread).
func onOwnThread(fn func() error) error { return nsthread.OnOwnThread(fn) }

// InNamed runs fn on a thread inside the network namespace named name
// (RunDir/name, as `ip netns` names them): sockets it creates and
// children it starts belong to that namespace.
func InNamed(name string, fn func() error) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%q is not the name of a network namespace", name)
	}
	handle, err := netns.GetFromPath(filepath.Join(RunDir, name))
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", name, err)
	}
	defer handle.Close()
	return inNamespace(handle, fn)
}

// InNamespaceOf runs fn on a thread inside the network namespace of
// process pid (/proc/PID/ns/net), as InNamed does.
func InNamespaceOf(pid int, fn func() error) error {
	handle, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("opening the network namespace of process %d: %w", pid, err)
	}
	defer handle.Close()
	return inNamespace(handle, fn)
}

// SameNamespace says whether process pid is in this process's network
// namespace; an error says that pid's cannot be looked at.
func SameNamespace(pid int) (bool, error) {
	var own, its unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &own); err != nil {
		return false, err
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &its); err != nil {
		return false, err
	}
	return own.Dev == its.Dev && own.Ino == its.Ino, nil
}
