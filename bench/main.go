// Command bench measures the runner against the floor: the same work done
// by hand with no runner, as fast as is sane. `make bench` runs `bench
// all`, which prints the tables recorded in docs/internals/performance.md.
//
// Every measurement of one invocation runs inside one network namespace,
// created once when bench starts (as root): neither side pays for a
// namespace of its own, and both find the same ports free.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/scenario-tool/scenario/netns"
)

var errUsage = errors.New("usage: bench all [-pairs N] [-demo-runs N] | bench ratios [-pairs N] [-only basic,intentions,intentions-settled,topology] | " +
	"bench extras [-demo-runs N] | bench floor basic|intentions|intentions-settled | bench floor-cluster | bench quiet [-probes N]")

// inNamespaceVar marks the bench process that runs inside the namespace
// its parent made for it.
const inNamespaceVar = "BENCH_IN_NETNS"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, errUsage)
		os.Exit(2)
	}
	root, _ := os.Getwd()
	consul, _ := filepath.Abs(envOr("CONSUL", "bin/consul"))
	switch os.Args[1] {
	case "floor":
		fs := flag.NewFlagSet("floor", flag.ExitOnError)
		inNetns := fs.Bool("netns", false, "bring up loopback first (started in a new network namespace)")
		fs.Parse(os.Args[2:])
		if *inNetns {
			must(netns.LoopbackUp())
		}
		flow := fs.Arg(0)
		if flow != "basic" && flow != "intentions" && flow != "intentions-settled" {
			fmt.Fprintln(os.Stderr, errUsage)
			os.Exit(2)
		}
		res := floor(flow, root, consul)
		printJSON(res)
		if res.Error != "" {
			os.Exit(1)
		}
	case "floor-cluster":
		res := clusterFloor(root, consul)
		printJSON(res)
		if res.Error != "" {
			os.Exit(1)
		}
	case "all", "ratios", "extras":
		fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
		pairs := fs.Int("pairs", 7, "alternating runner/floor pairs per ratio")
		only := fs.String("only", "basic,intentions,intentions-settled,topology", "the ratios to measure")
		demoRuns := fs.Int("demo-runs", 5, "runs of the sleep-based demo flow")
		fs.Parse(os.Args[2:])
		enterNamespace()
		env := describeEnvironment(consul)
		fmt.Println(env)
		var basicRunner float64
		if os.Args[1] != "extras" {
			basicRunner = ratios(root, consul, *pairs, *only)
		}
		if os.Args[1] != "ratios" {
			extras(root, consul, *demoRuns, basicRunner)
		}
	case "quiet":
		fs := flag.NewFlagSet("quiet", flag.ExitOnError)
		probes := fs.Int("probes", 500, "probes to time")
		fs.Parse(os.Args[2:])
		quiet(envOr("SCENARIO", "bin/scenario"), consul, *probes)
	default:
		fmt.Fprintln(os.Stderr, errUsage)
		os.Exit(2)
	}
}

// enterNamespace runs this command again inside a new network namespace
// with loopback up, once, and exits with its status; in that child it
// brings loopback up and returns. Without root it says so and measures in
// the current namespace, where the scenarios' ports must be free.
func enterNamespace() {
	if os.Getenv(inNamespaceVar) != "" {
		must(netns.LoopbackUp())
		return
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: not root, so measuring in this network namespace (ports 8500, 8181, 9191, 21000 and 21001 must be free; topologies need root)")
		return
	}
	self, err := os.Executable()
	must(err)
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), inNamespaceVar+"=1")
	netns.Isolate(cmd)
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	must(err)
	os.Exit(0)
}
