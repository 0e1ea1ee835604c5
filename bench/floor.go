package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/consuldef"
)

// floorResult is what one hand-driven flow reports; bench times the
// floor's whole process from outside, these are for reading where its
// time goes.
type floorResult struct {
	Flow         string  `json:"flow"`
	AnsweredMS   float64 `json:"agent_answered_ms"`   // start to the (first) agent's API answering
	FirstTripMS  float64 `json:"first_round_trip_ms"` // start to the first round trip through 9191
	FlowMS       float64 `json:"flow_ms"`             // start to the end of the flow's work
	TeardownMS   float64 `json:"teardown_ms"`
	TotalMS      float64 `json:"total_ms"` // the flow, then teardown
	StartedProcs int     `json:"processes"`
	Error        string  `json:"error,omitempty"`
}

// floor does the basic (or intentions) scenario's work by hand with no
// runner, as fast as is sane: the agent with the scenario's flags; both
// services registered through the HTTP API, from the same definitions,
// as soon as it answers; socat and both sidecars started at once; a round
// trip through 127.0.0.1:9191 polled every 5 ms; for intentions.yaml its
// intention changes and probes; then SIGTERM to every process at once,
// and a wait until they have exited and their ports are free. It is what
// the runner is measured against. It checks nothing the runner's
// evidence adds (whose listener a port is, the certificate a sidecar
// presents, a reply's quiet window): those stay in the runner's time.
func floor(flow, root, consul string) floorResult {
	res := floorResult{Flow: flow}
	logs := logFolder("floor")
	var procs []*exec.Cmd
	start := func(name string, argv ...string) error {
		log, err := os.Create(filepath.Join(logs, name+".log"))
		if err != nil {
			return err
		}
		defer log.Close()
		fmt.Fprintf(log, "# bench: %s started %s\n", name, time.Now().UTC().Format(time.RFC3339Nano))
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
		res.AnsweredMS = ms(time.Since(t0))
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
		switch flow {
		case "intentions":
			return intentionsFlow(client, nil)
		case "intentions-settled":
			return intentionsFlow(client, settled)
		}
		return nil
	}()
	res.FlowMS = ms(time.Since(t0))
	if err != nil {
		res.Error = err.Error()
	}
	tear := time.Now()
	stopAll(procs, syscall.SIGTERM)
	if err := portsFree(meshPorts...); err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	res.TeardownMS = ms(time.Since(tear))
	res.TotalMS = ms(time.Since(t0))
	res.StartedProcs = len(procs)
	return res
}

// meshPorts are the ports a single-agent flow listens on: the dev agent's
// (server RPC, serf LAN and WAN, HTTP, gRPC, DNS), socat's, web's upstream
// and the two sidecars' public listeners.
var meshPorts = []string{"8300", "8301", "8302", "8500", "8502", "8600", "8181", "9191", "21000", "21001"}

// intentionsFlow is intentions.yaml's work after the first round trip.
// With watch (settled), each claim the scenario makes with `within` is
// also watched after it first holds, as the runner watches it: the deny
// and its decision side by side, then the allow, then the last decision,
// each before the change after it.
func intentionsFlow(client *api.Client, watch func(check func() error) error) error {
	eventually := func(check func() error) error {
		if err := poll(10*time.Second, check); err != nil || watch == nil {
			return err
		}
		return watch(check)
	}
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
	decision := func(want bool) func() error {
		return func() error {
			ok, _, err := client.Connect().IntentionCheck(&api.IntentionCheck{Source: "web", Destination: "socat"}, nil)
			if err == nil && ok != want {
				err = fmt.Errorf("allowed is %t", ok)
			}
			return err
		}
	}
	if err := set(api.IntentionActionDeny); err != nil {
		return err
	}
	denied := make(chan error, 1)
	go func() { denied <- eventually(closedWithoutReply) }()
	if err := eventually(decision(false)); err != nil {
		return err
	}
	if err := echo("two\n"); err != nil {
		return err
	}
	if err := <-denied; err != nil {
		return err
	}
	if err := set(api.IntentionActionAllow); err != nil {
		return err
	}
	if err := eventually(func() error { return roundTrip("after\n") }); err != nil {
		return err
	}
	if _, err := client.Connect().IntentionDeleteExact("web", "socat", nil); err != nil {
		return err
	}
	return eventually(decision(true))
}

// settled watches a claim that has just held, as the runner watches one
// made with `within`: checked again every 20 ms until 500 ms after it
// first held, failing on the first contrary outcome.
func settled(check func() error) error {
	const window, every = 500 * time.Millisecond, 20 * time.Millisecond
	end := time.Now().Add(window)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Now().Before(end) {
		<-tick.C
		if err := check(); err != nil {
			return fmt.Errorf("after it held: %w", err)
		}
	}
	return nil
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

// logFolder is where a floor's processes log: under $BENCH_LOGS when set
// (the bench sets it, as it gives the runner --logs, and removes it at its
// end), cleared first, as the runner clears a scenario's log folder; else
// a temporary folder whose path goes to stderr, to read where the floor's
// time went.
func logFolder(name string) string {
	if parent := os.Getenv("BENCH_LOGS"); parent != "" {
		dir := filepath.Join(parent, name)
		must(os.RemoveAll(dir))
		must(os.MkdirAll(dir, 0o700))
		return dir
	}
	dir, err := os.MkdirTemp("", name)
	must(err)
	fmt.Fprintln(os.Stderr, "bench: logs in", dir)
	return dir
}

// stopAll sends sig to every process group at once, as a person's `kill
// %1 %2 ...` does, then SIGKILL to whatever is left after 5 s, and waits
// until every leader has exited.
func stopAll(procs []*exec.Cmd, sig syscall.Signal) {
	var wg sync.WaitGroup
	for _, cmd := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pgid := cmd.Process.Pid
			syscall.Kill(-pgid, sig)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}()
	}
	wg.Wait()
}

// portsFree polls, every 5 ms, until each of ports can be bound on
// 127.0.0.1 (and so on every address of this namespace's loopback).
func portsFree(ports ...string) error {
	return poll(10*time.Second, func() error {
		for _, port := range ports {
			l, err := net.Listen("tcp", "127.0.0.1:"+port)
			if err != nil {
				return err
			}
			l.Close()
		}
		return nil
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printJSON(v any) {
	data, _ := json.Marshal(v)
	fmt.Println(string(data))
}
