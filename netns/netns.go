// Package netns runs children in Linux network namespaces of their own, so
// that scenarios with the same fixed ports do not collide.
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Isolate makes cmd start in a new network namespace. If the parent dies,
// the child is sent SIGTERM, so that it cleans up after itself.
func Isolate(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
}

// Permitted reports whether a child can be started in a new network
// namespace (it needs root or CAP_SYS_ADMIN), by starting probe there.
func Permitted(probe *exec.Cmd) error {
	Isolate(probe)
	return probe.Run()
}

// LoopbackUp brings up lo in this process's network namespace; a new
// namespace starts with it down.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// RunDir is where named network namespaces live, as `ip netns` keeps them:
// each name is an empty file with the namespace bind-mounted on it.
const RunDir = "/run/netns"

// RemoveNamed removes the named network namespace RunDir/name, as `ip
// netns del` does (unmount, then remove the file), and says whether the
// name existed. A name already gone is not an error. name must be a plain
// file name, so that nothing outside RunDir is ever touched (the reaper
// removes names a dead runner sent it). The namespace itself ends when
// nothing holds it any more: no process in it, no open handle or socket.
func RemoveNamed(name string) (existed bool, err error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00\n") {
		return false, fmt.Errorf("refusing to remove network namespace %q: not a plain name under %s", name, RunDir)
	}
	path := filepath.Join(RunDir, name)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	err = unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) { // EINVAL: not mounted
		return true, fmt.Errorf("removing network namespace %s: unmounting %s: %w (try `ip netns del %s`)", name, path, err, name)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return true, fmt.Errorf("removing network namespace %s: %w (try `ip netns del %s`)", name, err, name)
	}
	return true, nil
}

// runName matches the name of a network namespace a runner created:
// sc<runner pid>-<runner start time>.<6 hex digits>-<node or "br">. The
// dot tells it from the names of older runners (sc<pid>-<hex>-<node>),
// which carry no start time and so are never swept.
var runName = regexp.MustCompile(`^sc([0-9]+)-([0-9]+)\.[0-9a-f]{6}-[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// RunPrefix is the prefix of a run's namespace names: the runner's pid
// and start time (clock ticks since boot), which together name the runner
// for good (a pid is reused, never with the same start time), and suffix
// (6 hex digits), which tells the runner's labs apart.
func RunPrefix(pid int, start uint64, suffix string) string {
	return fmt.Sprintf("sc%d-%d.%s", pid, start, suffix)
}

// ParseRunName returns the pid and start time of the runner that created
// the namespace name, if name is one a runner creates.
func ParseRunName(name string) (pid int, start uint64, ok bool) {
	m := runName.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(m[1])
	start, err2 := strconv.ParseUint(m[2], 10, 64)
	return pid, start, err1 == nil && err2 == nil
}
