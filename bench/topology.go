package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/topology"
)

// clusterFloor does bench/testdata/cluster.yaml's work with no runner, as
// fast as is sane: the same namespaces (built with the same package), the
// same agent flags, every process started as soon as what it needs
// answers, readiness and the round trip polled every 5 ms.
func clusterFloor(root, consul string) floorResult {
	res := floorResult{Flow: "cluster"}
	data, _ := os.MkdirTemp("", "floor-cluster")
	defer os.RemoveAll(data)
	t0 := time.Now()
	lab, err := topology.New(fmt.Sprintf("fl%d", os.Getpid()), []string{"server", "app1", "app2"})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	type started struct {
		node string
		cmd  *exec.Cmd
	}
	var procs []started
	start := func(node, name string, argv ...string) error {
		n, _ := lab.Node(node)
		log, err := os.Create(filepath.Join(data, node+"-"+name+".log"))
		if err != nil {
			return err
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := n.Do(cmd.Start); err != nil {
			return err
		}
		procs = append(procs, started{node, cmd})
		return nil
	}
	client := func(node string) *api.Client {
		n, _ := lab.Node(node)
		cfg := api.DefaultNonPooledConfig()
		cfg.Transport.DialContext = n.DialContext
		c, _ := api.NewClient(cfg)
		return c
	}
	addr := func(node string) string { n, _ := lab.Node(node); return n.Addr().String() }
	err = func() error {
		if err := start("server", "agent", consul, "agent", "-node", "server", "-datacenter", "dc1", "-bind", addr("server"), "-client", "127.0.0.1", "-dev"); err != nil {
			return err
		}
		for _, node := range []string{"app1", "app2"} {
			if err := start(node, "agent", consul, "agent", "-node", node, "-datacenter", "dc1", "-bind", addr(node), "-client", "127.0.0.1",
				"-data-dir", filepath.Join(data, node), "-hcl", "ports { grpc = 8502 }", "-hcl", `performance { raft_multiplier = 1, rpc_hold_timeout = "1s" }`,
				"-retry-join", addr("server"), "-retry-interval", "250ms"); err != nil {
				return err
			}
		}
		for _, node := range []string{"server", "app1", "app2"} {
			c := client(node)
			if err := poll(30*time.Second, func() error {
				if l, err := c.Status().Leader(); err != nil || l == "" {
					return fmt.Errorf("no leader: %v", err)
				}
				roots, _, err := c.Connect().CARoots(nil)
				if err != nil || len(roots.Roots) == 0 {
					return fmt.Errorf("no CA root: %v", err)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("agent %s: %w", node, err)
			}
		}
		if err := start("app2", "socat", "socat", "TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork", "EXEC:cat"); err != nil {
			return err
		}
		for node, f := range map[string]string{"app2": "socat.json", "app1": "web.json"} {
			raw, err := os.ReadFile(filepath.Join(root, "consul.d", f))
			if err != nil {
				return err
			}
			svc, err := consuldef.ParseServiceDefinition(raw)
			if err != nil {
				return err
			}
			svc.Connect.SidecarService.Address = addr(node) // reachable from the other nodes
			if err := client(node).Agent().ServiceRegister(svc); err != nil {
				return err
			}
		}
		for node, svc := range map[string]string{"app2": "socat", "app1": "web"} {
			if err := start(node, "sidecar-"+svc, consul, "connect", "proxy", "-sidecar-for", svc); err != nil {
				return err
			}
		}
		app1, _ := lab.Node("app1")
		return poll(30*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			c, err := app1.DialContext(ctx, "tcp", "127.0.0.1:9191")
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Second))
			if _, err := io.WriteString(c, "hello\n"); err != nil {
				return err
			}
			got, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && got != "hello\n" {
				err = fmt.Errorf("got %q", got)
			}
			return err
		})
	}()
	res.FirstTripMS = ms(time.Since(t0))
	res.FlowMS = res.FirstTripMS
	if err != nil {
		res.Error = err.Error()
	}
	// Torn down as the runner does: nodes side by side, each newest first.
	tear := time.Now()
	var wg sync.WaitGroup
	for _, node := range []string{"server", "app1", "app2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(procs) - 1; i >= 0; i-- {
				if procs[i].node == node {
					stopGroup(procs[i].cmd)
				}
			}
		}()
	}
	wg.Wait()
	lab.Close()
	res.TeardownMS = ms(time.Since(tear))
	res.TotalMS = ms(time.Since(t0))
	res.StartedProcs = len(procs)
	return res
}

// compareTopology times the runner on bench/testdata/cluster.yaml against
// clusterFloor, in alternating pairs, and the namespaces' own cost.
func compareTopology(root, consul string, pairs int) {
	self, _ := os.Executable()
	scenario := filepath.Join(root, "bin", "scenario")
	logs, _ := os.MkdirTemp("", "bench-logs")
	defer os.RemoveAll(logs)
	var runner, floors, firsts, ratios []float64
	for i := 0; i < pairs; i++ {
		order := []string{"runner", "floor"}
		if i%2 == 1 {
			order = []string{"floor", "runner"}
		}
		var r, f float64
		for _, which := range order {
			if which == "runner" {
				t := time.Now()
				out, err := exec.Command(scenario, "run", "--logs", logs, "--consul", consul, "bench/testdata/cluster.yaml").CombinedOutput()
				if err != nil {
					must(fmt.Errorf("runner: %v\n%s", err, out))
				}
				r = ms(time.Since(t))
			} else {
				out, err := exec.Command(self, "floor-cluster").Output()
				var fr floorResult
				if err == nil {
					err = json.Unmarshal(out, &fr)
				}
				if err == nil && fr.Error != "" {
					err = fmt.Errorf("%s", fr.Error)
				}
				must(err)
				f = fr.TotalMS
				firsts = append(firsts, fr.FirstTripMS)
			}
		}
		runner, floors, ratios = append(runner, r), append(floors, f), append(ratios, r/f)
	}
	// The namespaces alone: build and remove a lab of 3 and of 5 nodes.
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
	fmt.Printf("| what | measured | target |\n|---|---|---|\n")
	fmt.Printf("| cluster formation to the first cross-node round trip, then teardown: runner / floor (median of %d pairs) | %.2fx (runner %.0f ms, floor %.0f ms; floor's first round trip %.0f ms) | ≤ 1.2x |\n",
		pairs, median(ratios), median(runner), median(floors), median(firsts))
	fmt.Printf("| namespaces and links, setup + teardown per node (median of 10 labs of 3 and 5 nodes) | %.1f ms | < 50 ms |\n", median(perNode))
}
