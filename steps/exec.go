package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

func init() {
	Register(Type{
		Name:    "exec",
		Summary: "runs a command to completion and checks its exit status and output (for example nc, as the demo did)",
		Fields:  "{command, exit, stdout}: command as for run; exit the expected status (default 0); stdout a regular expression",
		Example: `- exec: {command: "printf 'hi\n' | nc -w 2 127.0.0.1 9191", stdout: "^hi\n$"}`,
		Timeout: 60 * time.Second,
		Decode:  decodeExec,
		Schema:  object(false, []string{"command"}, props{"command": command(), "exit": map[string]any{"type": "integer", "minimum": 0, "maximum": 255}, "stdout": str()}),
	})
}

type execStep struct {
	argv   []string
	exit   int
	stdout *regexp.Regexp
}

func decodeExec(d *Decoder, v *yaml.Node) Step {
	f := d.Fields(v, "exec", "command", "exit", "stdout")
	if !f.Require(v, "command") {
		return nil
	}
	s := &execStep{argv: d.Command(f.Node("command"), "exec.command"), exit: f.Int("exit", 0)}
	if s.exit < 0 || s.exit > 255 {
		d.Errorf(f.Node("exit"), "exec.exit must be between 0 and 255, not %d", s.exit)
	}
	if f.Has("stdout") {
		s.stdout = d.Regexp(f.Node("stdout"), "exec.stdout")
	}
	return s
}

func (s *execStep) String() string {
	if len(s.argv) == 3 && s.argv[0] == "/bin/sh" {
		return s.argv[2]
	}
	return strings.Join(s.argv, " ")
}

func (s *execStep) Run(ctx context.Context, env Env) error {
	cmd := exec.CommandContext(ctx, s.argv[0], s.argv[1:]...)
	// Its own group, so that a timeout kills the pipeline, not just sh.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Dir, cmd.Env = env.CommandEnv()
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("%q did not finish in time: %w; stdout %s, stderr %s", s, ctx.Err(), Quote(stdout.Bytes()), Quote(stderr.Bytes()))
	}
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		return fmt.Errorf("running %q: %w", s, err)
	}
	if code != s.exit {
		got := fmt.Sprintf("exit status %d", code)
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			got = "killed by signal " + ws.Signal().String()
		}
		return fmt.Errorf("expected exit status %d, got %s; stdout %s, stderr %s", s.exit, got, Quote(stdout.Bytes()), Quote(stderr.Bytes()))
	}
	if s.stdout != nil && !s.stdout.Match(stdout.Bytes()) {
		return fmt.Errorf("expected stdout to match %q, got %s", s.stdout, Quote(stdout.Bytes()))
	}
	return nil
}
