package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// auditFlags are the flags of `scenario audit`.
type auditFlags struct {
	agent, expect, from, to, format, send, token, proxy string
	allowUnprobed                                       bool
	parallel                                            int
	probeTimeout                                        time.Duration
}

const formatJUnit = "junit"

func (f *auditFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.agent, "agent", "", "the Consul agent whose cluster to audit, at `ADDR` (host:port, or\nhttp(s)://host:port); the other Consul client variables\n(CONSUL_CACERT, ...) apply as for the consul CLI")
	fs.StringVar(&f.expect, "expect", "", "the declared table, a YAML `FILE`: SOURCE: {DESTINATION: allow|deny}\nper row (or {from: [...], to: [...]})")
	fs.StringVar(&f.from, "from", "", "the sources, as `S,...` (default: every Connect service); any name\nis an identity, a stranger's included; with --expect, some of its rows")
	fs.StringVar(&f.to, "to", "", "the destinations, as `D,...` (default: every Connect service); with\n--expect, some of its columns")
	fs.StringVar(&f.format, "format", formatText, "`FORMAT` of the report on stdout: text; json, one document;\njunit, JUnit XML (a test case per cell); test2json, the events\nof go test -json (a subtest per cell)")
	fs.StringVar(&f.send, "send", "", "write `BYTES` after each handshake and judge by the reply (a round\ntrip; Go escapes like \\n are read); by default no application byte\nis sent and each cell is judged at the handshake")
	fs.StringVar(&f.token, "token", "", "the ACL `TOKEN` (default: $CONSUL_HTTP_TOKEN); it needs service:write\non each source (for its leaf certificate) and destination (for\nthe agent's authorization)")
	fs.StringVar(&f.proxy, "proxy", "builtin", "the sidecars' `PROXY`: builtin (authorizes in the handshake) or envoy\n(authorizes after it: needs --send; a close after the handshake\nand HTTP 403 \"RBAC: access denied\" then count as deny)")
	fs.BoolVar(&f.allowUnprobed, "allow-unprobed", false, "exit 0 even when some sources could not be probed (they are listed)")
	fs.IntVar(&f.parallel, "parallel", steps.DefaultParallel, "at most `N` probes and questions in flight")
	fs.DurationVar(&f.probeTimeout, "probe-timeout", 2*time.Second, "one probe of one instance may take `DURATION`; a listener silent\nthat long is unknown")
}

const auditDetail = "Compares, for every source and destination, Consul's authorization (the\n" +
	"agent's /v1/agent/connect/authorize, with the deciding intention) with what\n" +
	"each passing instance of the destination does when the runner, holding the\n" +
	"source's leaf certificate, dials its sidecar's public listener, and with the\n" +
	"declared table (--expect). Runs from any host that reaches the agent's API and\n" +
	"the sidecars' addresses; starts nothing and changes nothing (no intention,\n" +
	"registration or config entry; the agent issues and caches the leaves). A\n" +
	"source whose leaf the token may not get is not probed, never passed.\n" +
	"Exit status: 0 every probed cell agrees (and none is unprobed, unless\n" +
	"--allow-unprobed), 1 a cell does not, 2 bad input or no agent."

func cmdAudit(f *auditFlags, args []string, stdout, stderr io.Writer) int {
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "scenario audit: "+format+"\n", a...)
		return exitInvalid
	}
	switch {
	case len(args) > 0:
		return bad("unexpected argument %q; the table comes from --expect FILE (see scenario help audit)", args[0])
	case f.agent == "":
		return bad("give --agent ADDR, the Consul agent whose cluster to audit (see scenario help audit)")
	case f.format != formatText && f.format != formatJSON && f.format != formatJUnit && f.format != formatTest2JSON:
		return bad("--format %q: give text, json, junit or test2json", f.format)
	case f.proxy != "builtin" && f.proxy != "envoy":
		return bad("--proxy %q: give builtin or envoy", f.proxy)
	case f.proxy == "envoy" && f.send == "":
		return bad("--proxy envoy needs --send BYTES: Envoy completes the handshake whatever its RBAC says, so only a round trip shows its verdict")
	case f.parallel < 1:
		return bad("--parallel must be 1 or more, not %d", f.parallel)
	case f.probeTimeout <= 0:
		return bad("--probe-timeout must be positive, not %s", f.probeTimeout)
	}
	var send []byte
	if f.send != "" {
		s, err := strconv.Unquote(`"` + strings.ReplaceAll(f.send, `"`, `\"`) + `"`)
		if err != nil {
			return bad("--send %q: %v (write Go escapes like \\n, or plain bytes)", f.send, err)
		}
		send = []byte(s)
	}
	var table steps.Table
	if f.expect != "" {
		t, errs := readExpect(f.expect)
		if len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintln(stderr, e)
			}
			return exitInvalid
		}
		table = t
	}

	cfg := api.DefaultNonPooledConfig()
	cfg.Address = f.agent
	if scheme, rest, ok := strings.Cut(f.agent, "://"); ok {
		cfg.Scheme, cfg.Address = scheme, rest
	}
	if f.token != "" {
		cfg.Token, cfg.TokenFile = f.token, ""
	}
	runner.LearnSecret(cfg.Token)
	if cfg.TokenFile != "" {
		if data, err := os.ReadFile(cfg.TokenFile); err == nil {
			runner.LearnSecret(strings.TrimSpace(string(data)))
		}
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return bad("--agent %s: %v", f.agent, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ask, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, _, err := client.Agent().ConnectCARoots((&api.QueryOptions{}).WithContext(ask)); err != nil {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return bad("--agent %s does not answer as a Consul agent with Connect: %v (is the address right? is a token needed, with --token or $CONSUL_HTTP_TOKEN?)", f.agent, err)
	}

	from, to := splitNames(f.from), splitNames(f.to)
	if f.expect != "" {
		var err error
		if table.Sources, err = subset(table.Sources, from, "--from", "rows"); err != nil {
			return bad("%v", err)
		}
		if table.Destinations, err = subset(table.Destinations, to, "--to", "columns"); err != nil {
			return bad("%v", err)
		}
	} else {
		var services []string
		if len(from) == 0 || len(to) == 0 {
			if services, err = connectServices(ask, client, f.parallel); err != nil {
				return bad("listing the cluster's Connect services: %v", err)
			}
		}
		table.Sources, table.Destinations = from, to
		if len(from) == 0 {
			table.Sources = services
		}
		if len(to) == 0 {
			table.Destinations = services
		}
	}
	if len(table.Sources) == 0 || len(table.Destinations) == 0 {
		return bad("nothing to audit: no source or no destination (the cluster has no Connect service; name them with --from and --to)")
	}

	prober := &steps.Prober{Client: client, Dial: (&net.Dialer{}).DialContext, Send: send, Timeout: f.probeTimeout, Parallel: f.parallel,
		Envoy: func(*api.ServiceEntry) bool { return f.proxy == "envoy" }}
	start := time.Now()
	res, err := prober.Check(ctx, table)
	took := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "scenario audit: interrupted")
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "scenario audit: %v\n", err)
		return exitInvalid
	}
	a := audit{flags: f, res: res, took: took}
	out := runner.NewSafeWriter(stdout)
	defer out.Flush()
	switch f.format {
	case formatJSON:
		a.writeJSON(out)
	case formatJUnit, formatTest2JSON:
		a.writeEvents(out)
	default:
		a.writeText(out)
	}
	return a.exitCode()
}

// readExpect reads a declared table from a YAML file, every problem at
// its file:line:col.
func readExpect(path string) (steps.Table, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return steps.Table{}, []error{fmt.Errorf("scenario audit: --expect: %w", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return steps.Table{}, []error{fmt.Errorf("%s: %w", path, err)}
	}
	d := spec.NewDecoder(path)
	if len(doc.Content) == 0 {
		return steps.Table{}, []error{fmt.Errorf("%s:1:1: empty: write the declared table, SOURCE: {DESTINATION: allow|deny} per row", path)}
	}
	var t steps.ReachabilityTable
	t.DecodeYAML(d, doc.Content[0], "the table")
	return t.Table, d.Errors()
}

func splitNames(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" && !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// subset keeps the names of all that are picked, in all's order; every
// picked name must be there.
func subset(all, picked []string, flagName, what string) ([]string, error) {
	if len(picked) == 0 {
		return all, nil
	}
	for _, p := range picked {
		if !contains(all, p) {
			return nil, fmt.Errorf("%s %s: the --expect table has no such %s (it has %s)", flagName, p, strings.TrimSuffix(what, "s"), strings.Join(all, ", "))
		}
	}
	var out []string
	for _, a := range all {
		if contains(picked, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// connectServices lists the cluster's Connect services: those a sidecar
// proxy fronts, and the Connect-native ones, by name.
func connectServices(ctx context.Context, client *api.Client, parallel int) ([]string, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	names, _, err := client.Catalog().Services(q)
	if err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		found = map[string]bool{}
		errs  []error
		sem   = make(chan struct{}, parallel)
	)
	for name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			entries, _, err := client.Health().Service(name, "", false, q)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, e := range entries {
				switch svc := e.Service; {
				case svc.Kind == api.ServiceKindConnectProxy && svc.Proxy != nil && svc.Proxy.DestinationServiceName != "":
					found[svc.Proxy.DestinationServiceName] = true
				case svc.Connect != nil && svc.Connect.Native:
					found[svc.Service] = true
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := make([]string, 0, len(found))
	for n := range found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// audit is a checked table and how to report it.
type audit struct {
	flags *auditFlags
	res   *steps.Result
	took  time.Duration
}

// evidence says how each cell was judged.
func (a audit) evidence() string {
	if a.res.Send == nil {
		return "handshake: the sidecar's acceptance or refusal of the source's certificate, no application byte sent (the built-in proxy authorizes in the handshake; --send BYTES for a round trip)"
	}
	return fmt.Sprintf("round trip: %s written after each handshake, a reply needed for allow", steps.Quote(a.res.Send))
}

// counts splits the cells: probed and holding, probed and not, not probed.
func (a audit) counts() (agree, disagree []steps.Cell, unprobed []steps.Cell) {
	for _, c := range a.res.Cells {
		switch {
		case c.NotProbed != "":
			unprobed = append(unprobed, c)
		case len(c.Problems()) > 0:
			disagree = append(disagree, c)
		default:
			agree = append(agree, c)
		}
	}
	return agree, disagree, unprobed
}

func (a audit) exitCode() int {
	_, disagree, unprobed := a.counts()
	if len(disagree) > 0 || len(unprobed) > 0 && !a.flags.allowUnprobed {
		return exitFailed
	}
	return exitPassed
}

func (a audit) summary() string {
	agree, disagree, unprobed := a.counts()
	s := fmt.Sprintf("%d cells in %s: %d agree, %d do not, %d not probed", len(a.res.Cells), runner.FormatDuration(a.took), len(agree), len(disagree), len(unprobed))
	if len(unprobed) > 0 && a.flags.allowUnprobed {
		s += " (allowed by --allow-unprobed)"
	}
	return s
}

// unprobedSources says once per source why it was not probed.
func (a audit) unprobedSources() []string {
	_, _, unprobed := a.counts()
	var out []string
	seen := map[string]bool{}
	for _, c := range unprobed {
		if !seen[c.Source] {
			seen[c.Source] = true
			out = append(out, fmt.Sprintf("%s: %s", c.Source, c.NotProbed))
		}
	}
	return out
}

func (a audit) writeText(w io.Writer) {
	fmt.Fprintf(w, "scenario audit of %s (read-only: nothing started, no intention, registration or config entry changed)\n", a.flags.agent)
	fmt.Fprintf(w, "evidence: %s\n", a.evidence())
	if a.flags.expect != "" {
		fmt.Fprintf(w, "declared: %s\n", a.flags.expect)
	}
	fmt.Fprintf(w, "%s\n\n", steps.Legend)
	for _, l := range a.res.Render() {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "\ninstances dialled: %s\nevidence per cell: %s\ndecided by Consul: %s\n", a.res.Instances(), a.res.Levels(), a.res.DecidedBy())
	_, disagree, _ := a.counts()
	if len(disagree) > 0 {
		fmt.Fprintf(w, "\ncells that do not hold (%d):\n", len(disagree))
		for _, c := range disagree {
			fmt.Fprintf(w, "  %s: %s\n      %s\n", c.Pair, strings.Join(c.Problems(), "; "), c.Evidence())
		}
	}
	if un := a.unprobedSources(); len(un) > 0 {
		fmt.Fprintf(w, "\nnot probed (a source whose leaf certificate the token may not get is never passed):\n")
		for _, l := range un {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	fmt.Fprintf(w, "\n%s\n", a.summary())
}

// auditCell is a cell in --format json.
type auditCell struct {
	Source      string              `json:"source"`
	Destination string              `json:"destination"`
	Declared    string              `json:"declared,omitempty"`
	Predicted   auditPrediction     `json:"predicted"`
	Observed    string              `json:"observed"` // allow, deny, unknown, split, not-probed
	Evidence    string              `json:"evidence"` // the levels of its instances' evidence
	Instances   []steps.Observation `json:"instances,omitempty"`
	NotProbed   string              `json:"not_probed,omitempty"`
	Holds       bool                `json:"holds"`
	Problems    []string            `json:"problems,omitempty"`
}

type auditPrediction struct {
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"` // Consul's words
	Explain string `json:"explain"`
}

type auditReport struct {
	Agent        string      `json:"agent"`
	Evidence     string      `json:"evidence"`
	Declared     string      `json:"declared,omitempty"`
	Sources      []string    `json:"sources"`
	Destinations []string    `json:"destinations"`
	Cells        []auditCell `json:"cells"`
	NotProbed    []string    `json:"not_probed,omitempty"`
	Agree        bool        `json:"agree"`
	DurationMS   float64     `json:"duration_ms"`
}

func (a audit) writeJSON(w io.Writer) {
	r := auditReport{Agent: a.flags.agent, Evidence: a.evidence(), Declared: a.flags.expect,
		Sources: a.res.Table.Sources, Destinations: a.res.Table.Destinations, NotProbed: a.unprobedSources(),
		Agree: a.exitCode() == exitPassed, DurationMS: float64(a.took.Microseconds()) / 1000}
	for _, c := range a.res.Cells {
		seen, split := c.Seen()
		observed := string(seen)
		switch {
		case c.NotProbed != "":
			observed = "not-probed"
		case split:
			observed = "split"
		}
		r.Cells = append(r.Cells, auditCell{Source: c.Source, Destination: c.Destination, Declared: string(c.Declared),
			Predicted: auditPrediction{Verdict: string(c.Predicted.Verdict()), Reason: c.Predicted.Reason, Explain: c.Predicted.Explain()},
			Observed:  observed, Evidence: c.Level(), Instances: c.Observed, NotProbed: c.NotProbed,
			Holds: len(c.Problems()) == 0, Problems: c.Problems()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(r)
}

// writeEvents reports the audit as a run of one scenario with one step
// whose cells are test cases: JUnit or test2json, as `run` writes them.
func (a audit) writeEvents(w io.Writer) {
	now := time.Now()
	name := "audit " + a.flags.agent
	file := a.flags.expect
	step := &runner.StepEvent{Index: 1, Type: "audit", Label: "reachability", Pos: a.flags.agent}
	if file != "" {
		step.Pos = file + ":1:1"
	}
	step.Outcome, step.DurationMS = runner.OutcomePassed, float64(a.took.Microseconds())/1000
	step.Table = append([]string{steps.Legend}, a.res.Render()...)
	step.Notes = []string{"evidence: " + a.evidence()}
	for _, c := range a.res.Cells {
		cell := runner.CellEvent{Name: c.Pair.String(), Outcome: runner.OutcomePassed, Detail: c.Evidence()}
		switch {
		case c.NotProbed != "" && a.flags.allowUnprobed:
			cell.Outcome, cell.Detail = runner.OutcomeSkipped, "not probed: "+c.NotProbed
		case len(c.Problems()) > 0:
			cell.Outcome, cell.Detail = runner.OutcomeFailed, strings.Join(c.Problems(), "; ")+" -- "+c.Evidence()
		}
		step.Cells = append(step.Cells, cell)
	}
	outcome := runner.OutcomePassed
	if a.exitCode() != exitPassed {
		outcome, step.Outcome, step.Error = runner.OutcomeFailed, runner.OutcomeFailed, a.summary()
	}
	events := []runner.Event{
		{Event: "scenario-start", Scenario: name, File: file, Steps: 1, Description: "read-only audit; " + a.evidence()},
		{Event: "step-start", Scenario: name, File: file, Step: &runner.StepEvent{Index: 1, Type: "audit", Label: "reachability", Pos: step.Pos}},
		{Event: "step-end", Scenario: name, File: file, Step: step},
		{Event: "scenario-end", Scenario: name, File: file, Outcome: outcome, DurationMS: step.DurationMS},
	}
	if outcome == runner.OutcomeFailed {
		events[3].FailedStep, events[3].Error = 1, "1 (audit reachability)"
	}
	if a.flags.format == formatJUnit {
		j := runner.NewJUnit()
		for _, e := range events {
			e.Time = now
			j.Observe(e)
		}
		_ = j.Write(w)
		return
	}
	t := runner.NewTest2JSON(w)
	for _, e := range events {
		e.Time = now
		t.Observe(e)
	}
	t.Close()
}
