package topology

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Permitted says whether this process can build a lab: nil if so, else an
// error saying what is missing and what to do. It checks the capabilities
// (CAP_SYS_ADMIN for namespaces and mounts, CAP_NET_ADMIN for links),
// that RunDir can be written, that netlink answers, and that unsharing a
// network namespace really works (a container's seccomp profile may
// forbid it even to root). It takes about a millisecond.
func Permitted() error {
	const what = "topologies need network namespaces"
	caps, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("%s: reading this process's capabilities: %w", what, err)
	}
	var missing []string
	if caps&(1<<unix.CAP_SYS_ADMIN) == 0 {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if caps&(1<<unix.CAP_NET_ADMIN) == 0 {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s, and this process (uid %d) lacks %s: run it as root (e.g. with sudo)",
			what, os.Geteuid(), strings.Join(missing, " and "))
	}
	dir := RunDir
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		dir = filepath.Dir(RunDir) // created on first use
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("%s, named under %s, and %s is not writable here (%v): run as root on a writable /run", what, RunDir, dir, err)
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("%s: netlink does not answer here (%v): run outside this sandbox, or give it netlink sockets", what, err)
	}
	_, err = h.LinkByName("lo")
	h.Close()
	if err != nil {
		return fmt.Errorf("%s: netlink does not answer here (listing lo: %v): run outside this sandbox, or give it netlink sockets", what, err)
	}
	if err := onOwnThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) }); err != nil {
		return fmt.Errorf("%s, and unshare(CLONE_NEWNET) fails here (%v): in a container, run it privileged (docker run --privileged) or without a seccomp profile that forbids unshare", what, err)
	}
	return nil
}

// effectiveCaps reads CapEff from /proc/self/status.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}
