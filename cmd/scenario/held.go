package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/runner"
)

// While `up` holds a mesh, its log folder holds heldFile, which says
// where the mesh is, and a socket (heldSocket, or one in a temporary
// folder when that path is too long for a socket) through which `scenario
// exec` asks for the environment of a command on a node: the token in it
// never touches the disk. Both are removed when up ends; a file left by an
// up that was killed names a process that is gone.
const (
	heldFile   = runner.HeldFile
	heldSocket = "held.sock"
	// hostNode is how `scenario exec` names the host of a scenario
	// without nodes.
	hostNode = "host"
)

// heldState is heldFile's content: nothing secret.
type heldState struct {
	Scenario string            `json:"scenario"`
	File     string            `json:"file"`
	PID      int               `json:"pid"`
	Socket   string            `json:"socket"`
	Agent    string            `json:"agent,omitempty"` // on the host
	Nodes    []runner.HeldNode `json:"nodes,omitempty"`
}

// heldRequest and heldReply are one exchange on the socket.
type heldRequest struct {
	Node string `json:"node"` // "" on the host
}

type heldReply struct {
	Namespace string   `json:"namespace,omitempty"`
	Dir       string   `json:"dir,omitempty"`
	Env       []string `json:"env,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// holdUntilDone says how to reach the held mesh h, lets `scenario exec`
// find it, and waits for ctx to end. what begins the first line.
func holdUntilDone(ctx context.Context, logs, what string, h runner.Held, stderr io.Writer) {
	stopServing, execHint := serveHeld(logs, h, stderr)
	defer stopServing()
	switch {
	case len(h.Nodes) == 0 && h.Agent != "":
		fmt.Fprintf(stderr, "scenario: %s; Consul UI at http://%s/ui/ ; press Ctrl-C to stop\n", what, h.Agent)
	default:
		fmt.Fprintf(stderr, "scenario: %s; press Ctrl-C to stop\n", what)
	}
	for _, n := range h.Nodes {
		role := "no agent"
		if n.Role != "" {
			role = n.Role + " of " + n.Datacenter
		}
		fmt.Fprintf(stderr, "  node %s (%s) at %s, network namespace %s\n", n.Name, role, n.Addr, n.Namespace)
		switch {
		case n.Forward != "" && (n.Role == "server" || n.Role == "dev server"):
			fmt.Fprintf(stderr, "    agent %s in the node; from here http://%s (UI http://%s/ui/)\n", n.Agent, n.Forward, n.Forward)
		case n.Forward != "":
			fmt.Fprintf(stderr, "    agent %s in the node; from here http://%s\n", n.Agent, n.Forward)
		case n.Agent != "":
			fmt.Fprintf(stderr, "    agent %s in the node\n", n.Agent)
		}
	}
	if execHint != "" {
		fmt.Fprintln(stderr, "  "+execHint)
	}
	<-ctx.Done()
}

// serveHeld writes the held file and serves the socket; stop removes
// both. hint says how to run a command in the mesh, or why one cannot.
func serveHeld(logs string, h runner.Held, stderr io.Writer) (stop func(), hint string) {
	folder := runner.LogFolder(logs, h.Scenario)
	sock := filepath.Join(folder, heldSocket)
	var tmpDir string
	if len(sock) > maxSocketPath {
		dir, err := os.MkdirTemp("", "scenario-held-")
		if err != nil {
			return func() {}, fmt.Sprintf("(scenario exec cannot reach this mesh: %v)", err)
		}
		tmpDir, sock = dir, filepath.Join(dir, heldSocket)
	}
	ln, err := net.Listen("unix", sock)
	if err == nil {
		err = os.Chmod(sock, 0o600)
	}
	if err != nil {
		if tmpDir != "" {
			os.RemoveAll(tmpDir)
		}
		return func() {}, fmt.Sprintf("(scenario exec cannot reach this mesh: %v)", err)
	}
	state := heldState{Scenario: h.Scenario, File: h.File, PID: os.Getpid(), Socket: sock, Agent: h.Agent, Nodes: h.Nodes}
	if abs, err := filepath.Abs(sock); err == nil {
		state.Socket = abs
	}
	data, _ := json.MarshalIndent(state, "", "  ")
	file := filepath.Join(folder, heldFile)
	if err := os.WriteFile(file, append(data, '\n'), proc.LogMode); err != nil {
		fmt.Fprintf(stderr, "scenario: %v; scenario exec will not find this mesh\n", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			answerHeld(c, h)
		}
	}()
	stop = func() {
		ln.Close()
		<-done
		os.Remove(file)
		os.Remove(sock)
		if tmpDir != "" {
			os.RemoveAll(tmpDir)
		}
	}
	node := hostNode
	if len(h.Nodes) > 0 {
		node = h.Nodes[len(h.Nodes)-1].Name
	}
	hint = fmt.Sprintf("run a command there: scenario exec %s -- consul members", node)
	if logs != "logs" {
		hint = fmt.Sprintf("run a command there: scenario exec --logs %s %s -- consul members", logs, node)
	}
	return stop, hint
}

// maxSocketPath keeps a socket's path within sockaddr_un's 108 bytes.
const maxSocketPath = 100

// answerHeld answers one request on the held socket.
func answerHeld(c net.Conn, h runner.Held) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var req heldRequest
	var reply heldReply
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	switch {
	case err != nil:
		reply.Error = fmt.Sprintf("a request that is not one line of JSON: %v", err)
	default:
		reply = heldCommand(h, req.Node)
	}
	data, _ := json.Marshal(reply)
	_, _ = c.Write(append(data, '\n'))
}

// heldCommand is what a command on node needs: its namespace, folder and
// environment.
func heldCommand(h runner.Held, node string) heldReply {
	if node == "" {
		return withCommand(h, "", "")
	}
	for _, n := range h.Nodes {
		if n.Name == node {
			return withCommand(h, node, n.Namespace)
		}
	}
	return heldReply{Error: fmt.Sprintf("%s has no node %q (nodes: %s)", h.Scenario, node, nodeNames(h.Nodes))}
}

func withCommand(h runner.Held, node, namespace string) heldReply {
	dir, env, err := h.Command(node)
	if err != nil {
		return heldReply{Error: err.Error()}
	}
	return heldReply{Namespace: namespace, Dir: dir, Env: env}
}

func nodeNames(nodes []runner.HeldNode) string {
	if len(nodes) == 0 {
		return "none: it runs on the host, named " + hostNode
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}

// askHeld asks the up holding state for what a command on node needs.
func askHeld(state heldState, node string) (heldReply, error) {
	c, err := net.DialTimeout("unix", state.Socket, 5*time.Second)
	if err != nil {
		return heldReply{}, fmt.Errorf("the mesh of %s does not answer on %s: %w", state.Scenario, state.Socket, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	data, _ := json.Marshal(heldRequest{Node: node})
	if _, err := c.Write(append(data, '\n')); err != nil {
		return heldReply{}, err
	}
	line, err := bufio.NewReader(io.LimitReader(c, 1<<20)).ReadBytes('\n')
	if err != nil {
		return heldReply{}, fmt.Errorf("the mesh of %s answered nothing: %w", state.Scenario, err)
	}
	var reply heldReply
	if err := json.Unmarshal(line, &reply); err != nil {
		return heldReply{}, err
	}
	if reply.Error != "" {
		return reply, errors.New(reply.Error)
	}
	return reply, nil
}
