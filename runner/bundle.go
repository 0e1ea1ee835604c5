package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/proc"
)

// BundleFolder is where a failed scenario's debug bundle goes, inside its
// log folder.
const BundleFolder = "bundle"

// bundleTimeout bounds gathering the whole bundle, and bundleAsk one
// question to an agent: a node whose cable is cut, or whose servers are
// gone, answers nothing, and the run must still end.
const (
	bundleTimeout = 30 * time.Second
	bundleAsk     = 5 * time.Second
)

// maxBundleLog bounds the copy of an agent's log (its end is kept).
const maxBundleLog = 4 << 20

// configEntryKinds are the config entry kinds the bundle asks every agent
// for; a kind an older Consul does not know is skipped.
var configEntryKinds = []string{
	api.ServiceDefaults, api.ProxyDefaults, api.ServiceRouter, api.ServiceSplitter, api.ServiceResolver,
	api.IngressGateway, api.TerminatingGateway, api.ServiceIntentions, api.MeshConfig, api.ExportedServices,
	api.APIGateway, api.TCPRoute, api.HTTPRoute, api.InlineCertificate,
}

// bundleQuestions are what the bundle asks each agent, by the file the
// answer goes to: the catalog and health, the intentions, the CA roots
// and the members, as the agent's HTTP API gives them.
var bundleQuestions = []struct{ file, path string }{
	{"catalog-nodes.json", "/v1/catalog/nodes"},
	{"catalog-services.json", "/v1/catalog/services"},
	{"health.json", "/v1/health/state/any"},
	{"intentions.json", "/v1/connect/intentions"},
	{"ca-roots.json", "/v1/connect/ca/roots"},
	{"members.json", "/v1/agent/members"},
	{"agent-services.json", "/v1/agent/services"},
}

// pcapWriter is a wire capture that can write itself as a pcap file
// (topology.WireEvidence).
type pcapWriter interface {
	WritePcap(w io.Writer) error
}

// writeBundle gathers, before anything is torn down, what a failed
// scenario's mesh looked like: for every agent (each node's, or the
// host's), the catalog and health, the intentions, every config entry,
// each proxy's registration and config, the CA roots, `consul members`
// and the agent's log; and the wire captures steps took. It asks with each
// agent's token (the management token under ACLs) and redacts what it
// writes as the runner redacts everything. It returns what it could not
// gather.
func (s *session) writeBundle(dir string) []string {
	if err := os.MkdirAll(dir, proc.DirMode); err != nil {
		return []string{err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), bundleTimeout)
	defer cancel()
	s.mu.Lock()
	type agentAt struct {
		node string
		a    agentState // as it is now: a stop step may have changed it
	}
	var agents []agentAt
	for _, node := range s.agentSeq {
		agents = append(agents, agentAt{node, *s.agents[node]})
	}
	captures := slices.Clone(s.captures)
	s.mu.Unlock()

	var mu sync.Mutex
	var problems []string
	var wg sync.WaitGroup
	for _, at := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			folder := at.node
			if folder == "" {
				folder = "host"
			}
			errs := s.bundleAgent(ctx, filepath.Join(dir, folder), at.node, &at.a)
			mu.Lock()
			for _, e := range errs {
				problems = append(problems, folder+": "+e)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Strings(problems)
	var wire []string
	for _, c := range captures {
		name := fmt.Sprintf("wire-step-%02d.pcap", c.step)
		if err := s.writePcap(filepath.Join(dir, name), c.ev); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		wire = append(wire, fmt.Sprintf("%s: what crossed the nodes' cables during step %d (secrets the run knows masked with X)", name, c.step))
	}
	s.writeBundleFile(filepath.Join(dir, "README.txt"), bundleReadme(agents != nil, wire, problems))
	return problems
}

// bundleAgent writes one agent's part of the bundle to dir.
func (s *session) bundleAgent(ctx context.Context, dir, node string, a *agentState) []string {
	if err := os.MkdirAll(dir, proc.DirMode); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	fail := func(what string, err error) { problems = append(problems, fmt.Sprintf("%s: %v", what, err)) }
	copyLog := func() {
		switch {
		case a.proc != nil:
			if err := s.copyLog(filepath.Join(dir, "agent.log"), a.proc.LogPath); err != nil {
				fail("agent.log", err)
			}
		case s.external:
			s.writeBundleFile(filepath.Join(dir, "agent.log"), "an existing cluster's agent (run --agent): its log is not the runner's to copy\n")
		}
	}
	// An agent that is gone answers nothing: said once, with its log.
	switch {
	case a.gone != "":
		copyLog()
		return append(problems, "nothing asked: "+a.gone)
	case a.proc != nil && a.proc.Alive() != nil:
		copyLog()
		return append(problems, fmt.Sprintf("nothing asked: %v", a.proc.Alive()))
	}
	for i, q := range bundleQuestions {
		raw, err := ask(ctx, a.client, q.path)
		if err != nil && i == 0 && isConnectionError(err) {
			copyLog()
			return append(problems, fmt.Sprintf("nothing asked: the agent's API does not answer: %v", err))
		}
		if err != nil {
			fail(q.file, err)
			continue
		}
		s.writeBundleJSON(filepath.Join(dir, q.file), raw)
		if q.file != "agent-services.json" {
			continue
		}
		// Each proxy's registration and config, as the agent holds it.
		var services map[string]struct{ Kind, ID string }
		if err := json.Unmarshal(raw, &services); err != nil {
			fail(q.file, err)
			continue
		}
		ids := make([]string, 0, len(services))
		for id, svc := range services {
			if svc.Kind == string(api.ServiceKindConnectProxy) {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			raw, err := ask(ctx, a.client, "/v1/agent/service/"+pathEscape(id))
			if err != nil {
				fail("proxy "+id, err)
				continue
			}
			_ = os.MkdirAll(filepath.Join(dir, "proxies"), proc.DirMode)
			s.writeBundleJSON(filepath.Join(dir, "proxies", Slug(id)+".json"), raw)
		}
	}
	entries := map[string]json.RawMessage{}
	for _, kind := range configEntryKinds {
		raw, err := ask(ctx, a.client, "/v1/config/"+kind)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid config entry kind") && !strings.Contains(err.Error(), "nvalid kind") {
				fail("config entries of kind "+kind, err)
			}
			continue
		}
		entries[kind] = raw
	}
	if data, err := json.Marshal(entries); err == nil {
		s.writeBundleJSON(filepath.Join(dir, "config-entries.json"), data)
	}
	if out, err := s.consulMembers(ctx, node); err != nil {
		fail("consul members", err)
	} else {
		s.writeBundleFile(filepath.Join(dir, "members.txt"), out)
	}
	copyLog()
	return problems
}

// hasAgent says whether an agent was started (or an existing one used):
// without one, a bundle would have nothing to ask.
func (s *session) hasAgent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.agents) > 0
}

// ask GETs path from the agent's HTTP API, with the agent's token.
func ask(ctx context.Context, client *api.Client, path string) (json.RawMessage, error) {
	if client == nil {
		return nil, errors.New("no client for this agent")
	}
	ctx, cancel := context.WithTimeout(ctx, bundleAsk)
	defer cancel()
	var raw json.RawMessage
	if _, err := client.Raw().Query(path, &raw, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return nil, err
	}
	return raw, nil
}

func pathEscape(s string) string {
	return strings.NewReplacer("/", "%2F", "?", "%3F", "#", "%23", "%", "%25").Replace(s)
}

// consulMembers runs `consul members` against node's agent, from inside
// the node, as the runner (with the agent's token).
func (s *session) consulMembers(ctx context.Context, node string) (string, error) {
	if s.consulBin == "" {
		return "", errors.New("no consul binary")
	}
	ctx, cancel := context.WithTimeout(ctx, bundleAsk)
	defer cancel()
	as := asRunner
	if s.external {
		as = asCommand // how to reach an existing cluster is in the caller's variables
	}
	cmd := exec.CommandContext(ctx, s.consulBin, "members")
	cmd.Env = s.processEnv(node, as, "")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := cmd.Start
	if n, ok := s.node(node); ok {
		start = func() error { return n.Do(cmd.Start) }
	}
	err := start()
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// copyLog copies the end of a log the runner wrote (redacted already, and
// again here, with what the run learned since).
func (s *session) copyLog(to, from string) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	head := ""
	if st.Size() > maxBundleLog {
		if _, err := f.Seek(st.Size()-maxBundleLog, io.SeekStart); err != nil {
			return err
		}
		head = fmt.Sprintf("# scenario: the last %d MiB of %s\n", maxBundleLog>>20, from)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	s.writeBundleFile(to, head+string(data))
	return nil
}

func (s *session) writeBundleJSON(path string, raw []byte) {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		b.Reset()
		b.Write(raw)
	}
	b.WriteByte('\n')
	s.writeBundleFile(path, b.String())
}

// writeBundleFile writes text, redacted, privately (it may name what a
// scenario keeps secret from others on the machine).
func (s *session) writeBundleFile(path, text string) {
	_ = os.WriteFile(path, []byte(s.redactor.redact(text)), proc.LogMode)
}

// writePcap writes a capture with every secret the run knows masked in
// place (the same length, so that the file stays a valid capture).
func (s *session) writePcap(path string, pw pcapWriter) error {
	var b bytes.Buffer
	if err := pw.WritePcap(&b); err != nil {
		return err
	}
	return os.WriteFile(path, s.redactor.mask(b.Bytes()), proc.LogMode)
}

func bundleReadme(anyAgent bool, wire, problems []string) string {
	var b strings.Builder
	b.WriteString("The debug bundle of a failed scenario, gathered before anything was stopped.\n\n" +
		"One folder per agent (a node's, or host): catalog-nodes.json, catalog-services.json and\n" +
		"health.json (the catalog and health), intentions.json, config-entries.json (every\n" +
		"config entry, by kind), agent-services.json and proxies/ (each proxy's registration\n" +
		"and config, /v1/agent/service/<proxy-id>), ca-roots.json, members.json and\n" +
		"members.txt (consul members), agent.log. Asked with the agent's token (the\n" +
		"management token under ACLs); secrets are redacted as in every output of the runner.\n")
	if !anyAgent {
		b.WriteString("\nNo Consul agent was running: there was nothing to ask.\n")
	}
	if len(wire) > 0 {
		b.WriteString("\nWire captures:\n")
		for _, w := range wire {
			b.WriteString("  " + w + "\n")
		}
	}
	if len(problems) > 0 {
		b.WriteString("\nWhat could not be gathered:\n")
		for _, p := range problems {
			b.WriteString("  " + p + "\n")
		}
	}
	return b.String()
}
