package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scenario-tool/scenario/netns"
	"github.com/scenario-tool/scenario/topology"
	"github.com/scenario-tool/scenario/wait"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type row struct{ what, measured, target, verdict string }

// extras measures what the ratios do not: the demo's sleep-based flow
// against basic.yaml (basicRunner, its median whole-process time, when the
// ratios measured it), 8 scenarios at once, the runner's own overhead, and
// a topology's namespaces.
func extras(root, consul string, demoRuns int, basicRunner float64) {
	self, _ := os.Executable()
	scenario := filepath.Join(root, "bin", "scenario")
	logs, _ := os.MkdirTemp("", "bench-logs")
	defer os.RemoveAll(logs)
	var rows []row
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}

	runScenario := func(args ...string) (float64, error) {
		start := time.Now()
		cmd := exec.Command(scenario, append([]string{"run", "--logs", logs, "--consul", consul}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("%v\n%s", err, out)
		}
		return ms(time.Since(start)), nil
	}
	basicMedian := basicRunner
	if basicMedian == 0 {
		var times []float64
		for i := 0; i < 3; i++ {
			v, err := runScenario("scenarios/basic.yaml")
			must(err)
			times = append(times, v)
		}
		basicMedian = median(times)
	}

	if demoRuns > 0 {
		var times []float64
		failures := 0
		for i := 0; i < demoRuns; i++ {
			start := time.Now()
			cmd := exec.Command("sh", filepath.Join(root, "bench", "demo.sh"))
			cmd.Env = append(os.Environ(), "CONSUL="+consul)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			out, _ := cmd.Output()
			times = append(times, ms(time.Since(start)))
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			waitPortsFree()
			if strings.TrimSpace(string(out)) != "hello" {
				failures++
			}
		}
		speedup := median(times) / basicMedian
		rows = append(rows, row{
			"the demo's sleep-based flow / `basic.yaml`",
			fmt.Sprintf("%.1f s / %.0f ms = **%.0fx** slower; the demo failed %d of %d runs", median(times)/1000, basicMedian, speedup, failures, demoRuns),
			">= 10x", verdict(speedup >= 10),
		})
	}

	// Parallel scaling: 8 scenarios with the same ports.
	dir, _ := os.MkdirTemp("", "bench-parallel")
	defer os.RemoveAll(dir)
	var files []string
	basic, _ := os.ReadFile(filepath.Join(root, "scenarios", "basic.yaml"))
	for i := 1; i <= 8; i++ {
		text := strings.Replace(string(basic), "name: basic", fmt.Sprintf("name: basic-%d", i), 1)
		text = strings.ReplaceAll(text, "../consul.d/", filepath.Join(root, "consul.d")+"/")
		f := filepath.Join(dir, fmt.Sprintf("basic-%d.yaml", i))
		must(os.WriteFile(f, []byte(text), 0o644))
		files = append(files, f)
	}
	seq, err := runScenario(append([]string{"--parallel", "1"}, files...)...)
	must(err)
	// One sample of each moved the ratio by 0.2 from one bench to the
	// next: they alternate, as the ratios' pairs do, and the median
	// ratio is given.
	runParallel8 := func(files []string) float64 {
		par, err := runScenario(append([]string{"--parallel", "8"}, files...)...)
		must(err)
		return par
	}
	var pars, floors, ratios []float64
	for i := 0; i < parallelPairs; i++ {
		var par, floors8 float64
		if i%2 == 0 {
			par, floors8 = runParallel8(files), runFloors8(self, dir)
		} else {
			floors8, par = runFloors8(self, dir), runParallel8(files)
		}
		pars, floors, ratios = append(pars, par), append(floors, floors8), append(ratios, par/floors8)
	}
	par, floors8, ratio := median(pars), median(floors), median(ratios)
	rows = append(rows, row{
		"8 scenarios: `--parallel 8` / 8 hand-driven flows at once (each in its own netns)",
		fmt.Sprintf("%.0f ms / %.0f ms = **%.2fx** median of %d alternating pairs, %s (`--parallel 1`: %.0f ms, %.1fx slower than `--parallel 8`)",
			par, floors8, ratio, parallelPairs, ratioSpread(ratios), seq, seq/par),
		"<= 1.2x", verdict(ratio <= 1.2),
	})

	// Runner overhead, from the Go benchmarks.
	out, err := exec.Command("go", "test", "-run", "^$", "-bench", ".", "./runner", "./scenariofile").CombinedOutput()
	must(err)
	targets := map[string]string{"BenchmarkLoad1000Steps": "< 20 ms", "BenchmarkValidate500Files": "", "BenchmarkStepOverhead": "< 1 ms a step"}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.SplitN(f[0], "-", 2)[0]
		var nsPerOp float64
		fmt.Sscanf(f[2], "%f", &nsPerOp)
		measured := fmt.Sprintf("%.3f ms", nsPerOp/1e6)
		ok := true
		switch name {
		case "BenchmarkLoad1000Steps":
			ok = nsPerOp < 20e6
		case "BenchmarkStepOverhead":
			ok = nsPerOp < 1e6
			measured = fmt.Sprintf("%.1f µs a step", nsPerOp/1e3)
		}
		v := verdict(ok)
		if targets[name] == "" {
			v = "-"
		}
		rows = append(rows, row{"`" + name + "`", measured, targets[name], v})
	}

	// The CLI itself over 500 files, as a CI job would call it.
	many, _ := os.MkdirTemp("", "bench-validate")
	defer os.RemoveAll(many)
	intentions, _ := os.ReadFile(filepath.Join(root, "scenarios", "intentions.yaml"))
	text := strings.ReplaceAll(string(intentions), "../consul.d/", filepath.Join(root, "consul.d")+"/")
	for i := 0; i < 500; i++ {
		// One name each: same-named scenarios are refused (one log folder).
		named := strings.Replace(text, "name: intentions", fmt.Sprintf("name: intentions-%03d", i), 1)
		must(os.WriteFile(filepath.Join(many, fmt.Sprintf("s%03d.yaml", i)), []byte(named), 0o644))
	}
	var validateTimes []float64
	for i := 0; i < 5; i++ {
		start := time.Now()
		out, err := exec.Command(scenario, "validate", many).CombinedOutput()
		if err != nil {
			must(fmt.Errorf("validate: %v\n%s", err, out))
		}
		validateTimes = append(validateTimes, ms(time.Since(start)))
	}
	rows = append(rows, row{"`scenario validate` over 500 files (whole process)", fmt.Sprintf("%.0f ms (median of 5)", median(validateTimes)), "", "-"})

	if os.Geteuid() == 0 {
		// A topology's namespaces alone: build and remove labs of 3 and 5
		// nodes.
		var perNode []float64
		for i := 0; i < 5; i++ {
			for _, n := range []int{3, 5} {
				var nodes []string
				for k := 0; k < n; k++ {
					nodes = append(nodes, fmt.Sprintf("n%d", k))
				}
				t := time.Now()
				lab, err := topology.New(fmt.Sprintf("bn%d-%d", os.Getpid(), i), nodes)
				must(err)
				must(lab.Close())
				perNode = append(perNode, ms(time.Since(t))/float64(n))
			}
		}
		pn := median(perNode)
		rows = append(rows, row{"topology: namespaces and links, setup + teardown per node (median of 10 labs of 3 and 5 nodes)",
			fmt.Sprintf("%.1f ms", pn), "< 50 ms", verdict(pn < 50)})
	}

	fmt.Printf("Load average (1 min) at the end: %s.\n\n", loadAverage())
	fmt.Println("| what | measured | target | |")
	fmt.Println("|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r.what, r.measured, r.target, r.verdict)
	}
}

func consulVersion(consul string) string {
	out, _ := exec.Command(consul, "version").Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(line, "Consul ")
}

// waitPortsFree waits until the demo's ports can be bound again.
func waitPortsFree() {
	free := wait.Func("the demo's ports to be free", func(context.Context) error {
		for _, port := range []string{"8500", "8181", "9191", "21000", "21001"} {
			l, err := net.Listen("tcp", "127.0.0.1:"+port)
			if err != nil {
				return err
			}
			l.Close()
		}
		return nil
	})
	_ = wait.For(context.Background(), free, wait.Options{Timeout: 10 * time.Second})
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parallelPairs is how many times the 8 scenarios with --parallel 8 and
// the 8 floors at once are each measured, alternating.
const parallelPairs = 5

// runFloors8 runs 8 of basic.yaml's floors at once, each in a network
// namespace of its own, and returns how long they took, in milliseconds.
func runFloors8(self, dir string) float64 {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(self, "floor", "--netns", "basic")
			cmd.Env = append(os.Environ(), "BENCH_LOGS="+filepath.Join(dir, fmt.Sprint("floor-", i)))
			netns.Isolate(cmd)
			out, err := cmd.Output()
			var r floorResult
			if err == nil {
				err = json.Unmarshal(out, &r)
			}
			if err == nil && r.Error != "" {
				err = fmt.Errorf("%s", r.Error)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(err)
	}
	return ms(time.Since(start))
}
