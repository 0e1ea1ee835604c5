package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/runner"
)

// buildVersion describes this binary from its build information: the
// module version ("(devel)" for a build from a checkout), the VCS revision
// and time when the build recorded them, and the Go version.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "scenario (no build information) " + runtime.Version()
	}
	parts := []string{"scenario", info.Main.Version}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if settings["vcs.modified"] == "true" {
			rev += "+modified"
		}
		parts = append(parts, rev)
		if at := settings["vcs.time"]; at != "" {
			parts = append(parts, at)
		}
	}
	parts = append(parts, info.GoVersion, runtime.GOOS+"/"+runtime.GOARCH)
	return strings.Join(parts, " ")
}

// consulVersion asks the consul binary run would use for its version.
func consulVersion(flagValue string) string {
	bin, err := runner.FindConsul(flagValue)
	if err != nil {
		return "consul: " + err.Error()
	}
	first, err := consulVersionOf(bin)
	if err != nil {
		return fmt.Sprintf("consul: %s: %v", bin, err)
	}
	return fmt.Sprintf("consul: %s (%s)", first, bin)
}

// consulVersionOf is the first line of `consul version` of bin: "Consul
// v1.15.4".
func consulVersionOf(bin string) (string, error) { return consulVersionAt(bin, nil) }

// consulVersionAt is consulVersionOf with consul run at the lowest CPU
// priority until hurry is closed (nil: at the normal priority all along).
func consulVersionAt(bin string, hurry <-chan struct{}) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Stdout = &out
	err := cmd.Start()
	if err == nil {
		if hurry != nil {
			pid := cmd.Process.Pid
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, pid, 19)
			exited := make(chan struct{})
			go func() {
				// Until it is reaped below, pid is this child's and no
				// other process's: WNOWAIT leaves it to Wait.
				var info unix.Siginfo
				_ = unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
				close(exited)
			}()
			select {
			case <-exited:
			case <-hurry:
				_ = syscall.Setpriority(syscall.PRIO_PROCESS, pid, 0) // as root; else it stays low
				<-exited
			}
		}
		err = cmd.Wait()
	}
	first, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	if err != nil || !strings.HasPrefix(first, "Consul ") {
		return "", fmt.Errorf("`consul version` failed (%v): %q", err, first)
	}
	return first, nil
}

func cmdVersion(consulFlag string, stdout io.Writer) int {
	fmt.Fprintln(stdout, buildVersion())
	fmt.Fprintln(stdout, consulVersion(consulFlag))
	return exitPassed
}
