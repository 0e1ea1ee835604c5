package sockets

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kernel's socket diagnostics (NETLINK_SOCK_DIAG, what `ss` uses) list
// only the sockets asked for: the listening ones here. Reading
// /proc/net/tcp instead formats and parses every socket of the namespace,
// and a run that polls the agent's HTTP API leaves hundreds in TIME_WAIT;
// that costs milliseconds a poll, this tens of microseconds.

// Offsets in struct inet_diag_msg (linux/inet_diag.h): family, state,
// timer, retrans, then the socket id (sport, dport, src[16], dst[16], if,
// cookie[2]), then expires, rqueue, wqueue, uid, inode.
const (
	diagMsgLen     = 72
	diagSportOff   = 4
	diagDportOff   = 6
	diagSrcOff     = 8
	diagDstOff     = 24
	diagInodeOff   = 68
	diagReqLen     = 56 // struct inet_diag_req_v2
	tcpListenState = 10 // TCP_LISTEN
	// INET_DIAG_SKV6ONLY: the attribute saying whether an IPv6 socket
	// refuses IPv4 (IPV6_V6ONLY); the kernel sends it for every IPv6
	// socket, unasked.
	diagV6Only = 11
)

// diagListeners lists the listening TCP sockets of family (AF_INET or
// AF_INET6) in the network namespace of the calling thread (a netlink
// socket belongs to the namespace it was made in).
func diagListeners(family uint8) ([]Listener, error) {
	var out []Listener
	err := diagDump(family, 1<<tcpListenState, func(d []byte) {
		out = append(out, Listener{
			Addr:   &net.TCPAddr{IP: diagIP(d, diagSrcOff), Port: int(binary.BigEndian.Uint16(d[diagSportOff:]))},
			Inode:  diagInode(d),
			V6Only: d[0] == unix.AF_INET6 && v6Only(d[diagMsgLen:]),
		})
	})
	return out, err
}

// diagConns lists the TCP sockets of family in the calling thread's
// network namespace that have a peer (every state but listening and
// closed), with their state.
func diagConns(family uint8) ([]Conn, error) {
	var out []Conn
	const closed, listen = 7, tcpListenState
	err := diagDump(family, ^uint32(1<<closed|1<<listen), func(d []byte) {
		out = append(out, Conn{
			Local:  &net.TCPAddr{IP: diagIP(d, diagSrcOff), Port: int(binary.BigEndian.Uint16(d[diagSportOff:]))},
			Remote: &net.TCPAddr{IP: diagIP(d, diagDstOff), Port: int(binary.BigEndian.Uint16(d[diagDportOff:]))},
			Inode:  diagInode(d),
			State:  int(d[1]),
		})
	})
	return out, err
}

func diagIP(d []byte, off int) net.IP {
	ip := make(net.IP, 16)
	copy(ip, d[off:off+16])
	if d[0] == unix.AF_INET {
		return ip[:4]
	}
	if v4 := ip.To4(); v4 != nil {
		return v4 // ::ffff:a.b.c.d, as ParseProcAddr gives it
	}
	return ip
}

func diagInode(d []byte) string {
	return strconv.FormatUint(uint64(binary.NativeEndian.Uint32(d[diagInodeOff:])), 10)
}

// diagDump asks socket diagnostics for the TCP sockets of family in the
// given states (a bit per TCP state) and calls row with each message
// (struct inet_diag_msg and its attributes).
func diagDump(family uint8, states uint32, row func(d []byte)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}

	req := make([]byte, unix.NLMSG_HDRLEN+diagReqLen)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], 1) // sequence
	body := req[unix.NLMSG_HDRLEN:]
	body[0] = family
	body[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(body[4:], states)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}

	// The socket is this call's alone, bound and closed here, so every
	// reply on it answers this one request: sequence numbers and the
	// sender need no checking.
	bp := dumpBuffers.Get().(*[]byte)
	defer dumpBuffers.Put(bp)
	buf := *bp
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := -int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
						return syscall.Errno(errno)
					}
				}
				return nil
			}
			if len(m.Data) < diagMsgLen {
				return fmt.Errorf("socket diagnostics: a message of %d bytes", len(m.Data))
			}
			row(m.Data)
		}
	}
}

// dumpBuffers hold the replies of dumps: readiness polls dump the
// listeners every few milliseconds, and a fresh 32 KiB each time was most
// of what a run allocated.
var dumpBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// v6Only reads the INET_DIAG_SKV6ONLY attribute among attrs (rtattrs:
// length, type, value, padded to 4 bytes).
func v6Only(attrs []byte) bool {
	for len(attrs) >= 4 {
		n := int(binary.NativeEndian.Uint16(attrs[0:]))
		typ := binary.NativeEndian.Uint16(attrs[2:])
		if n < 4 || n > len(attrs) {
			return false
		}
		if typ == diagV6Only && n > 4 {
			return attrs[4] != 0
		}
		attrs = attrs[min((n+3)&^3, len(attrs)):]
	}
	return false
}
