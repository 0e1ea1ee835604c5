package steps

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/scenario-tool/scenario/proc"
)

// expectLoopbackOnly checks that every listening socket of a process and
// of its process group is bound to a loopback address.
type expectLoopbackOnly struct{ name string }

func (e *expectLoopbackOnly) String() string {
	return fmt.Sprintf("%s listens on loopback only", e.name)
}

func (e *expectLoopbackOnly) Run(ctx context.Context, env Env) error {
	p, ok := env.Process(e.name)
	if !ok {
		return fmt.Errorf("%q is not running", e.name)
	}
	if err := p.Alive(); err != nil {
		return err
	}
	listeners, err := GroupListeners(p.Pid())
	if err != nil {
		return err
	}
	if len(listeners) == 0 {
		return fmt.Errorf("%s has no listening TCP socket, so there is nothing to check", e.name)
	}
	var exposed []string
	for _, l := range listeners {
		if !l.IP.IsLoopback() {
			exposed = append(exposed, l.String())
		}
	}
	if len(exposed) > 0 {
		return WithLogs(fmt.Errorf("%s listens beyond loopback on %s (bind it to 127.0.0.1)", e.name, strings.Join(exposed, ", ")), e.name)
	}
	return nil
}

// GroupListeners lists the listening TCP sockets of the processes in
// process group pgid, from /proc.
func GroupListeners(pgid int) ([]*net.TCPAddr, error) {
	inodes := map[string]bool{}
	for _, pid := range proc.GroupMembers(pgid) {
		dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
				inodes[strings.TrimSuffix(inode, "]")] = true
			}
		}
	}
	var out []*net.TCPAddr
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		found, err := listeningSockets(table, inodes)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// listeningSockets reads a /proc/net/tcp table: "sl local rem st ... inode".
func listeningSockets(path string, inodes map[string]bool) ([]*net.TCPAddr, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*net.TCPAddr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		const listen = "0A"
		if len(fields) < 10 || fields[3] != listen || !inodes[fields[9]] {
			continue
		}
		if addr, err := parseProcAddr(fields[1]); err == nil {
			out = append(out, addr)
		}
	}
	return out, sc.Err()
}

// parseProcAddr decodes "0100007F:1F90": an address in host byte order,
// 32-bit words at a time, and a big-endian hex port.
func parseProcAddr(s string) (*net.TCPAddr, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return nil, err
	}
	return &net.TCPAddr{IP: net.IP(raw), Port: int(port)}, nil
}
