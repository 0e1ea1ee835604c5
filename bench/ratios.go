package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// A ratio is the runner's whole process against its floor's whole
// process, taken pair by pair: the two run one after the other, which
// goes first alternating, so that both see about the same load and
// neither always finds the other's caches warm.
type ratioSpec struct {
	name   string // as -only names it
	what   string // the table's first column
	runner []string
	floor  []string
}

// ratios measures the ratios -only names, prints their table, and returns
// basic.yaml's median runner time (for the demo's comparison).
func ratios(root, consul string, pairs int, only string) float64 {
	self, err := os.Executable()
	must(err)
	scenario := filepath.Join(root, "bin", "scenario")
	logs, err := os.MkdirTemp("", "bench-logs")
	must(err)
	defer os.RemoveAll(logs)
	must(os.Setenv("BENCH_LOGS", logs)) // the floors' logs go there too
	defer os.Unsetenv("BENCH_LOGS")
	run := func(file string) []string {
		return []string{scenario, "run", "--no-color", "--logs", logs, "--consul", consul, file}
	}
	specs := []ratioSpec{
		{name: "basic", what: "`basic.yaml`", runner: run("scenarios/basic.yaml"), floor: []string{self, "floor", "basic"}},
		{name: "intentions", what: "`intentions.yaml`", runner: run("scenarios/intentions.yaml"), floor: []string{self, "floor", "intentions"}},
		// The same run against a floor that makes intentions.yaml's
		// claims as the runner does: each one given with `within` is
		// watched settling (steps.SettleFloor) before the change after it.
		{name: "intentions-settled", what: "`intentions.yaml` against a floor that watches each `within` claim settle", runner: run("scenarios/intentions.yaml"), floor: []string{self, "floor", "intentions-settled"}},
		{name: "topology", what: "topology (`bench/testdata/cluster.yaml`): formation to the first cross-node round trip", runner: run("bench/testdata/cluster.yaml"), floor: []string{self, "floor-cluster"}},
	}
	var basicRunner float64
	fmt.Println("| what | runner, whole process | floor, whole process | runner / floor | load | target |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range specs {
		if !slices.Contains(strings.Split(only, ","), s.name) {
			continue
		}
		loadBefore := loadAverage()
		var runner, floor, ratio []float64
		for i := 0; i < pairs; i++ {
			var r, f float64
			if i%2 == 0 {
				r, f = timeProcess(s.runner), timeProcess(s.floor)
			} else {
				f, r = timeProcess(s.floor), timeProcess(s.runner)
			}
			runner, floor, ratio = append(runner, r), append(floor, f), append(ratio, r/f)
		}
		if s.name == "basic" {
			basicRunner = median(runner)
		}
		m := median(ratio)
		verdict := "met"
		if m > 1.2 {
			verdict = "MISSED"
		}
		fmt.Printf("| %s | %s | %s | **%.2fx** median of %d pairs; %s | %s | <= 1.2x: %s |\n",
			s.what, msSpread(runner), msSpread(floor), m, pairs, ratioSpread(ratio), loadRange(loadBefore, loadAverage()), verdict)
	}
	fmt.Println()
	return basicRunner
}

// timeProcess runs argv to its end and returns how long that took, in
// milliseconds; a failure ends the bench (a failed run measures nothing).
func timeProcess(argv []string) float64 {
	start := time.Now()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	took := ms(time.Since(start))
	if err != nil {
		must(fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out))
	}
	return took
}

// quartiles returns the minimum, lower quartile, median, upper quartile
// and maximum of xs (quartiles as the medians of each half).
func quartiles(xs []float64) (lo, q1, med, q3, hi float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return
	}
	half := n / 2
	q1, q3 = median(s[:max(half, 1)]), median(s[n-max(half, 1):])
	return s[0], q1, median(s), q3, s[n-1]
}

func msSpread(xs []float64) string {
	lo, _, med, _, hi := quartiles(xs)
	return fmt.Sprintf("%.0f ms (%.0f-%.0f)", med, lo, hi)
}

func ratioSpread(xs []float64) string {
	lo, q1, _, q3, hi := quartiles(xs)
	return fmt.Sprintf("min-max %.2f-%.2f, IQR %.2f-%.2f", lo, hi, q1, q3)
}

// loadAverage is the 1-minute load average, as /proc/loadavg has it.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}

func loadRange(before, after string) string { return before + " -> " + after }

// describeEnvironment says where and on what the figures were taken.
func describeEnvironment(consul string) string {
	host, _ := os.Hostname()
	where := "in one network namespace made for this bench"
	if os.Getenv(inNamespaceVar) == "" {
		where = "in the caller's network namespace"
	}
	return fmt.Sprintf("Measured %s on %s (%s/%s, %d cores), Consul %s, built-in proxy, %s; load average (1 min) at the start %s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), consulVersion(consul), where, loadAverage())
}
