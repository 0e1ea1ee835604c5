package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// HeldFile, in a scenario's log folder, says that `scenario up` holds the
// scenario's mesh: its pid, and how to reach the mesh (cmd/scenario writes
// it). The folder is not cleared while that process lives.
const HeldFile = "held.json"

// HeldBy returns the pid of the live process that holds the mesh whose
// log folder is folder, if one does.
func HeldBy(folder string) (int, bool) {
	data, err := os.ReadFile(filepath.Join(folder, HeldFile))
	if err != nil {
		return 0, false
	}
	var st struct {
		PID int `json:"pid"`
	}
	if json.Unmarshal(data, &st) != nil || st.PID <= 0 || st.PID == os.Getpid() {
		return 0, false
	}
	if err := syscall.Kill(st.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false // left by an up that was killed
	}
	return st.PID, true
}

// Held is a mesh that `scenario up` holds after its steps: where each
// agent listens, and what a command started beside it needs.
type Held struct {
	Scenario, File string
	// Agent is the agent's HTTP address on the host, for a scenario
	// without nodes.
	Agent string
	// Nodes are the scenario's nodes, in order; none on the host.
	Nodes []HeldNode
	// Command gives the folder and the environment of a command run on
	// node ("" on the host) as an exec step there gets them: the node's
	// agent (CONSUL_HTTP_ADDR), the scenario's token, SCENARIO_NODE and
	// the nodes' addresses, consul on the PATH.
	Command func(node string) (dir string, env []string, err error)
}

// HeldNode is one node of a held mesh.
type HeldNode struct {
	NodeInfo
	// Role is the node's agent's: "dev server", "server" or "client"; ""
	// when no agent runs there. Datacenter is that agent's.
	Role       string `json:"role,omitempty"`
	Datacenter string `json:"datacenter,omitempty"`
	// Agent is the agent's HTTP address inside the node.
	Agent string `json:"agent,omitempty"`
	// Forward is an address on the host's loopback that forwards to
	// Agent while the mesh is held (the API, and a server's UI), or "".
	Forward string `json:"forward,omitempty"`
}

// held describes sess's mesh for Hold, with a forward to each node's
// agent; stop ends the forwards.
func (s *session) held(sc *Scenario, addr string) (h Held, stop func()) {
	h = Held{Scenario: sc.Name, File: sc.File, Agent: addr,
		Command: func(node string) (string, []string, error) {
			if node != "" {
				if _, ok := s.node(node); !ok {
					return "", nil, fmt.Errorf("no node %q in %s", node, sc.Name)
				}
			}
			dir, env := s.commandEnv(node)
			return dir, env, nil
		}}
	var forwards []*forward
	stop = func() {
		for _, f := range forwards {
			f.close()
		}
	}
	for _, name := range sc.Nodes {
		n, ok := s.node(name)
		if !ok {
			continue
		}
		hn := HeldNode{NodeInfo: NodeInfo{Name: name, Addr: n.Addr().String(), Namespace: n.Namespace()}}
		for _, a := range sc.Cluster.Agents {
			if a.Node == name {
				hn.Datacenter = a.Datacenter
				switch {
				case a.Dev:
					hn.Role = "dev server"
				case a.Server:
					hn.Role = "server"
				default:
					hn.Role = "client"
				}
			}
		}
		s.mu.Lock()
		a := s.agents[name]
		s.mu.Unlock()
		if a != nil && a.gone == "" && (a.proc == nil || a.proc.Alive() == nil) {
			hn.Agent = a.cfg.Address
			if f, err := forwardTo(n, hn.Agent); err == nil {
				forwards = append(forwards, f)
				hn.Forward = f.addr()
			}
		}
		h.Nodes = append(h.Nodes, hn)
	}
	return h, stop
}

// forward accepts on the host's loopback and connects each connection to
// an address inside a node, so that a browser on the host reaches the
// agent of a node (its API and UI listen on the node's own loopback).
type forward struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func forwardTo(n netNode, target string) (*forward, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &forward{ln: ln, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.pass(c, n, target)
			}()
		}
	}()
	return f, nil
}

func (f *forward) addr() string { return f.ln.Addr().String() }

// pass joins c to a fresh connection to target inside n until either
// side ends.
func (f *forward) pass(c net.Conn, n netNode, target string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t, err := n.DialContext(ctx, "tcp", target)
	cancel()
	if err != nil {
		c.Close()
		return
	}
	if !f.track(c, t) {
		return
	}
	done := make(chan struct{}, 2)
	copyAndClose := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go copyAndClose(t, c)
	go copyAndClose(c, t)
	<-done
	<-done
	f.untrack(c, t)
}

// track records open connections, for close; false (both closed) once
// the forward is closed.
func (f *forward) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		f.conns[c] = true
	}
	return true
}

func (f *forward) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(f.conns, c)
	}
}

// close stops accepting, ends the connections open and waits for their
// goroutines.
func (f *forward) close() {
	err := f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	if !errors.Is(err, net.ErrClosed) {
		f.wg.Wait()
	}
}
