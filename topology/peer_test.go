package topology_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// wirePeer is the test binary as a process of the capture tests: started
// in a node with a group of its own, so that its sockets are tagged (or
// not) as an agent's or a proxy's. WIRE_PEER says what to do:
// "echo ADDR" serves a TCP echo on ADDR; "send ADDR MSG" sends MSG over
// TCP to ADDR and reads it back; "udp ADDR MSG" sends one datagram;
// "blast ADDR N" writes N bytes and closes; "sink ADDR" takes one
// connection and reads it once a line comes on stdin. With
// WIRE_PEER_MARK set, its sockets carry that mark (SO_MARK), as a process
// passing for another would set it.
func wirePeer() int {
	var mode, addr, msg string
	fmt.Sscan(os.Getenv("WIRE_PEER"), &mode, &addr, &msg)
	mark, _ := strconv.Atoi(os.Getenv("WIRE_PEER_MARK"))
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		if mark == 0 {
			return nil
		}
		var err error
		_ = c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, mark) })
		return err
	}}
	// listen listens on addr and says so, dial dials it; each prints what
	// went wrong, and returns nil then.
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println(err)
			return nil
		}
		fmt.Println("listening")
		return ln
	}
	dial := func(network string) net.Conn {
		c, err := d.Dial(network, addr)
		if err != nil {
			fmt.Println(err)
			return nil
		}
		return c
	}
	switch mode {
	case "echo":
		ln := listen()
		if ln == nil {
			return 1
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	case "send":
		c := dial("tcp")
		if c == nil {
			return 1
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			return 1
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			fmt.Println("echo:", string(buf), err)
			return 1
		}
		return 0
	case "blast":
		// Writes msg's number of bytes and closes at once: most of them
		// leave after the close, sent for a socket no process holds.
		size, _ := strconv.Atoi(msg)
		c := dial("tcp")
		if c == nil {
			return 1
		}
		// Room for all of it: the write returns, though the sink reads
		// nothing yet.
		raw, _ := c.(*net.TCPConn).SyscallConn()
		_ = raw.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, 4*size)
		})
		if _, err := c.Write(make([]byte, size)); err != nil {
			fmt.Println(err)
			return 1
		}
		c.Close()
		return 0
	case "sink":
		// Accepts one connection, reads nothing until a line comes on
		// stdin, then reads it to its end.
		ln := listen()
		if ln == nil {
			return 1
		}
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		_, _ = fmt.Scanln()
		n, err := io.Copy(io.Discard, c)
		fmt.Println(n, err)
		return 0
	case "udp":
		c := dial("udp")
		if c == nil {
			return 1
		}
		defer c.Close()
		if _, err := io.WriteString(c, msg); err != nil {
			return 1
		}
		return 0
	}
	fmt.Println("WIRE_PEER: unknown", mode)
	return 2
}
