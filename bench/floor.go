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
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/steps"
)

// floorResult is what one hand-driven flow reports.
type floorResult struct {
	Flow         string  `json:"flow"`
	FirstTripMS  float64 `json:"first_round_trip_ms"` // start to first round trip through 9191
	TotalMS      float64 `json:"total_ms"`            // the flow, then teardown
	Error        string  `json:"error,omitempty"`
	StartedProcs int     `json:"processes"`
	TeardownMS   float64 `json:"teardown_ms"`
	FlowMS       float64 `json:"flow_ms"` // start to the end of the flow's checks
}

// floor does the basic (or intentions) scenario's work with no runner, as
// fast as is sane: the same service definitions and agent settings, every
// process started as soon as the HTTP API answers, a round trip through
// 127.0.0.1:9191 polled every 5 ms. It is what the runner is measured
// against.
func floor(flow, root, consul string) floorResult {
	res := floorResult{Flow: flow}
	logs, _ := os.MkdirTemp("", "floor")
	defer os.RemoveAll(logs)
	var procs []*exec.Cmd
	start := func(name string, argv ...string) error {
		log, err := os.Create(filepath.Join(logs, name+".log"))
		if err != nil {
			return err
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		return nil
	}
	t0 := time.Now()
	err := func() error {
		if err := start("agent", consul, "agent", "-dev", "-hcl", `performance { rpc_hold_timeout = "1s" }`); err != nil {
			return err
		}
		client, _ := api.NewClient(api.DefaultNonPooledConfig())
		if err := poll(30*time.Second, func() error { _, err := client.Agent().Self(); return err }); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		for _, f := range []string{"socat.json", "web.json"} {
			data, err := os.ReadFile(filepath.Join(root, "consul.d", f))
			if err != nil {
				return err
			}
			svc, err := consuldef.ParseServiceDefinition(data)
			if err != nil {
				return err
			}
			if err := client.Agent().ServiceRegister(svc); err != nil {
				return err
			}
		}
		if err := start("socat", "socat", "TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork", "EXEC:cat"); err != nil {
			return err
		}
		for _, svc := range []string{"socat", "web"} {
			if err := start("sidecar-"+svc, consul, "connect", "proxy", "-sidecar-for", svc); err != nil {
				return err
			}
		}
		if err := poll(30*time.Second, func() error { return roundTrip("hello\n") }); err != nil {
			return fmt.Errorf("first round trip: %w", err)
		}
		res.FirstTripMS = ms(time.Since(t0))
		// basic.yaml also checks that socat listens on loopback only and
		// that socat's sidecar presents socat's certificate: the same
		// checks, by the same functions.
		listeners, err := steps.GroupListeners(procs[1].Process.Pid)
		if err != nil || len(listeners) == 0 || !listeners[0].IP.IsLoopback() {
			return fmt.Errorf("socat listeners %v: %v", listeners, err)
		}
		if err := checkCert(client); err != nil {
			return err
		}
		if flow == "intentions" {
			return intentionsFlow(client)
		}
		return nil
	}()
	res.FlowMS = ms(time.Since(t0))
	if err != nil {
		res.Error = err.Error()
	}
	tear := time.Now()
	for i := len(procs) - 1; i >= 0; i-- {
		stopGroup(procs[i])
	}
	res.TeardownMS = ms(time.Since(tear))
	res.TotalMS = ms(time.Since(t0))
	res.StartedProcs = len(procs)
	return res
}

// intentionsFlow is intentions.yaml's work after the first round trip.
func intentionsFlow(client *api.Client) error {
	long, err := net.Dial("tcp", "127.0.0.1:9191")
	if err != nil {
		return err
	}
	defer long.Close()
	r := bufio.NewReader(long)
	echo := func(s string) error {
		long.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(long, s); err != nil {
			return err
		}
		got, err := r.ReadString('\n')
		if err == nil && got != s {
			err = fmt.Errorf("got %q", got)
		}
		return err
	}
	if err := echo("one\n"); err != nil {
		return err
	}
	set := func(action api.IntentionAction) error {
		_, err := client.Connect().IntentionUpsert(&api.Intention{SourceName: "web", DestinationName: "socat", Action: action, SourceType: api.IntentionSourceConsul}, nil)
		return err
	}
	check := func(want bool) error {
		return poll(10*time.Second, func() error {
			ok, _, err := client.Connect().IntentionCheck(&api.IntentionCheck{Source: "web", Destination: "socat"}, nil)
			if err == nil && ok != want {
				err = fmt.Errorf("allowed is %t", ok)
			}
			return err
		})
	}
	if err := set(api.IntentionActionDeny); err != nil {
		return err
	}
	if err := poll(10*time.Second, closedWithoutReply); err != nil {
		return err
	}
	if err := check(false); err != nil {
		return err
	}
	if err := echo("two\n"); err != nil {
		return err
	}
	if err := set(api.IntentionActionAllow); err != nil {
		return err
	}
	if err := poll(10*time.Second, func() error { return roundTrip("after\n") }); err != nil {
		return err
	}
	if _, err := client.Connect().IntentionDeleteExact("web", "socat", nil); err != nil {
		return err
	}
	return check(true)
}

func roundTrip(msg string) error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:9191", time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && got != msg {
		err = fmt.Errorf("got %q", got)
	}
	return err
}

func closedWithoutReply() error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:9191", time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	io.WriteString(c, "denied?\n")
	got, _ := io.ReadAll(c)
	if len(got) > 0 {
		return fmt.Errorf("got %q", got)
	}
	return nil
}

// poll retries fn every 5 ms until it succeeds or limit passes.
func poll(limit time.Duration, fn func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

func stopGroup(cmd *exec.Cmd) {
	pgid := cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-done
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printJSON(v any) {
	data, _ := json.Marshal(v)
	fmt.Println(string(data))
}

var errUsage = errors.New("usage: bench floor basic|intentions | bench compare [-pairs N] [-demo-runs N] | bench quiet [-probes N]")

func checkCert(client *api.Client) error {
	roots, _, err := client.Connect().CARoots(nil)
	if err != nil {
		return err
	}
	chain, err := steps.PresentedChain(context.Background(), "127.0.0.1:21000")
	if err != nil {
		return err
	}
	return steps.VerifyServiceCert(chain, roots, "socat")
}
