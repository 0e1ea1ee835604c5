package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/scenario-tool/scenario/topology"
)

// cmdExec runs a command on a node of a mesh that `scenario up` holds, as
// an exec step on that node would run it: in the node's network
// namespace (the host's being the one up runs in), with its agent as CONSUL_HTTP_ADDR, the scenario's token,
// the nodes' addresses and consul on the PATH. The command is the
// caller's own, as with `ip netns exec`: its output is not the runner's,
// and it outlives nothing of the mesh's cleanup but itself.
func cmdExec(args []string, logs, scenarioName string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(stderr, "scenario exec: give a node and a command, e.g. scenario exec app1 -- consul members (a scenario without nodes is node "+hostNode+")")
		return exitInvalid
	}
	node, argv := args[0], args[1:]
	state, err := findHeld(logs, scenarioName, node)
	if err != nil {
		fmt.Fprintln(stderr, "scenario exec:", err)
		return exitInvalid
	}
	ask := node
	if len(state.Nodes) == 0 {
		ask = ""
	}
	reply, err := askHeld(state, ask)
	if err != nil {
		fmt.Fprintln(stderr, "scenario exec:", err)
		return exitInvalid
	}
	path, err := lookPathIn(argv[0], reply.Env)
	if err != nil {
		fmt.Fprintf(stderr, "scenario exec: %v\n", err)
		return exitInvalid
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Env: reply.Env, Dir: reply.Dir, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr}
	if stdout == os.Stdout {
		// The caller's terminal, as the command would have it by hand:
		// a shell or a pager sees a terminal, and nothing is escaped.
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	// Ctrl-C reaches the command from the terminal (it is in this
	// process's group); this process waits for it to end, passing on the
	// signals that come to it alone.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	start := cmd.Start
	elsewhere := false
	switch {
	case reply.Namespace != "":
		start = func() error { return topology.InNamed(reply.Namespace, cmd.Start) }
	default:
		// The host of the mesh is the network namespace up runs in, which
		// may not be this one (up started under unshare --net).
		same, err := topology.SameNamespace(state.PID)
		if elsewhere = err != nil || !same; elsewhere {
			start = func() error { return topology.InNamespaceOf(state.PID, cmd.Start) }
		}
	}
	if err := start(); err != nil {
		fmt.Fprintf(stderr, "scenario exec: starting %s on node %s: %v\n", argv[0], node, err)
		if elsewhere {
			fmt.Fprintf(stderr, "scenario exec: the mesh runs in the network namespace of its up (pid %d), not this one; "+
				"run exec as root (it enters that namespace), or enter it yourself: nsenter --net=/proc/%d/ns/net %s\n",
				state.PID, state.PID, strings.Join(argv, " "))
		}
		return exitFailed
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
					_ = cmd.Process.Signal(sig)
				}
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return exitPassed
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exitErr.ExitCode()
	}
	fmt.Fprintf(stderr, "scenario exec: %v\n", err)
	return exitFailed
}

// findHeld finds the mesh held under logs that has node (or, for
// hostNode, that runs on the host), among those of scenarioName if set.
func findHeld(logs, scenarioName, node string) (heldState, error) {
	files, _ := filepath.Glob(filepath.Join(logs, "*", heldFile))
	var held, matching []heldState
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st heldState
		if json.Unmarshal(data, &st) != nil || !processAlive(st.PID) {
			continue // left by an up that was killed
		}
		if scenarioName != "" && st.Scenario != scenarioName {
			continue
		}
		held = append(held, st)
		if hasNode(st, node) {
			matching = append(matching, st)
		}
	}
	describe := func(states []heldState) string {
		var parts []string
		for _, st := range states {
			parts = append(parts, fmt.Sprintf("%s (nodes: %s)", st.Scenario, nodeNames(st.Nodes)))
		}
		sort.Strings(parts)
		return strings.Join(parts, "; ")
	}
	where := logs
	if scenarioName != "" {
		where = fmt.Sprintf("%s for scenario %q", logs, scenarioName)
	}
	switch {
	case len(held) == 0:
		return heldState{}, fmt.Errorf("no mesh is held under %s: start one with scenario up FILE (with --logs, give exec the same --logs)", where)
	case len(matching) == 0:
		return heldState{}, fmt.Errorf("no held mesh has node %q; held: %s", node, describe(held))
	case len(matching) > 1:
		return heldState{}, fmt.Errorf("node %q is in %d held meshes, %s: say which with --scenario NAME", node, len(matching), describe(matching))
	}
	return matching[0], nil
}

func hasNode(st heldState, node string) bool {
	if len(st.Nodes) == 0 {
		return node == hostNode
	}
	for _, n := range st.Nodes {
		if n.Name == node {
			return true
		}
	}
	return false
}

// processAlive reports whether a process with pid exists.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// lookPathIn finds name as exec.LookPath would, but on the PATH of env
// (the command's, where consul's folder comes first).
func lookPathIn(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, name)
		if st, err := os.Stat(candidate); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%s: not found on the command's PATH (%s)", name, path)
}
