package main

import (
	"bufio"
	"context"
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

// clusterFloor does bench/testdata/cluster.yaml's work by hand with no
// runner, as fast as is sane: the same namespaces (built with the same
// package) and agent flags; the server first, and each client once the
// server's API answers, joining it; socat at once; each service
// registered as soon as its client's API answers (retried every 5 ms until
// the client has joined), and its sidecar started right after; the
// cross-node round trip polled every 5 ms. At the end every process is
// killed (nothing of this cluster is kept), then the namespaces go.
func clusterFloor(root, consul string) floorResult {
	res := floorResult{Flow: "cluster"}
	data := logFolder("floor-cluster")
	t0 := time.Now()
	lab, err := topology.New(fmt.Sprintf("fl%d", os.Getpid()), []string{"server", "app1", "app2"})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	var mu sync.Mutex
	var procs []*exec.Cmd
	start := func(node, name string, argv ...string) error {
		n, _ := lab.Node(node)
		log, err := os.Create(filepath.Join(data, node+"-"+name+".log"))
		if err != nil {
			return err
		}
		defer log.Close()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := n.Do(cmd.Start); err != nil {
			return err
		}
		mu.Lock()
		procs = append(procs, cmd)
		mu.Unlock()
		return nil
	}
	client := func(node string) *api.Client {
		n, _ := lab.Node(node)
		cfg := api.DefaultNonPooledConfig()
		cfg.Transport.DialContext = n.DialContext
		c, _ := api.NewClient(cfg)
		return c
	}
	answers := func(node string) error {
		c := client(node)
		return poll(30*time.Second, func() error { _, err := c.Agent().Self(); return err })
	}
	addr := func(node string) string { n, _ := lab.Node(node); return n.Addr().String() }
	err = func() error {
		if err := start("server", "agent", consul, "agent", "-node", "server", "-datacenter", "dc1", "-bind", addr("server"), "-client", "127.0.0.1", "-dev"); err != nil {
			return err
		}
		if err := start("app2", "socat", "socat", "TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork", "EXEC:cat"); err != nil {
			return err
		}
		if err := answers("server"); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		res.AnsweredMS = ms(time.Since(t0))
		errs := make(chan error, 2)
		for node, svc := range map[string]string{"app1": "web", "app2": "socat"} {
			go func() {
				errs <- func() error {
					if err := start(node, "agent", consul, "agent", "-node", node, "-datacenter", "dc1", "-bind", addr(node), "-client", "127.0.0.1",
						"-data-dir", filepath.Join(data, node), "-hcl", "ports { grpc = 8502 }", "-hcl", `performance { raft_multiplier = 1, rpc_hold_timeout = "1s" }`,
						"-retry-join", addr("server"), "-retry-interval", "50ms"); err != nil {
						return err
					}
					if err := answers(node); err != nil {
						return fmt.Errorf("%s: %w", node, err)
					}
					raw, err := os.ReadFile(filepath.Join(root, "consul.d", svc+".json"))
					if err != nil {
						return err
					}
					def, err := consuldef.ParseServiceDefinition(raw)
					if err != nil {
						return err
					}
					def.Connect.SidecarService.Address = addr(node) // reachable from the other nodes
					// A sidecar's registration needs the servers (its
					// central config): it fails until the client has
					// joined, and is retried every 5 ms.
					c := client(node)
					if err := poll(30*time.Second, func() error { return c.Agent().ServiceRegister(def) }); err != nil {
						return fmt.Errorf("registering %s on %s: %w", svc, node, err)
					}
					return start(node, "sidecar-"+svc, consul, "connect", "proxy", "-sidecar-for", svc)
				}()
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
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
	tear := time.Now()
	stopAll(procs, syscall.SIGKILL)
	if err := lab.Close(); err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	res.TeardownMS = ms(time.Since(tear))
	res.TotalMS = ms(time.Since(t0))
	res.StartedProcs = len(procs)
	return res
}
