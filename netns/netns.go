// Package netns runs children in Linux network namespaces of their own, so
// that scenarios with the same fixed ports do not collide.
package netns

import (
	"os/exec"
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
