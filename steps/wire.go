package steps

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scenario-tool/scenario/topology"
)

// Wire claims a probe can make about its bytes between nodes.
const (
	WireEncrypted = "encrypted" // crossed between nodes, as TLS records only
	WirePlaintext = "plaintext" // crossed between nodes in clear (a control)
)

// consulPorts carry the agents' own traffic (gossip, RPC, HTTP, gRPC,
// DNS), not a probe's: a probe's bytes cross on the sidecars' ports.
var consulPorts = []uint16{8300, 8301, 8302, 8500, 8502, 8503, 8600}

// minWireMarker is the shortest payload whose absence from a capture
// means something: a shorter one could appear in ciphertext by chance.
const minWireMarker = 4

// wireWatch captures every node's cable while a probe runs.
type wireWatch struct {
	net     Network
	capture WireCapture
}

func watchWire(env Env) (*wireWatch, error) {
	net := env.Network()
	if net == nil {
		return nil, errors.New("wire: evidence from the wire needs a scenario with nodes")
	}
	c, err := net.Capture()
	if err != nil {
		return nil, fmt.Errorf("wire: starting the capture: %w", err)
	}
	return &wireWatch{net: net, capture: c}, nil
}

// judge stops the capture and checks claim against what crossed between
// nodes: for encrypted, the probe's bytes crossed between two nodes, every
// flow between nodes but Consul's own is TLS records from end to end, and
// neither what was sent nor what came back appears in clear on any cable;
// for plaintext, what was sent crossed between nodes in clear. It returns
// a summary of the evidence for the step's notes.
func (w *wireWatch) judge(claim string, sent, got []byte) (string, error) {
	ev, err := w.capture.Stop()
	if err != nil {
		return "", fmt.Errorf("wire: stopping the capture: %w", err)
	}
	if ev.Dropped > 0 || ev.Truncated > 0 || len(ev.Incomplete) > 0 {
		return "", fmt.Errorf("wire: the capture is incomplete, so it proves nothing: %s", ev.Summary())
	}
	var crossing []*topology.Stream // between two nodes, not Consul's own
	for _, s := range ev.Streams() {
		a, b := w.net.NodeAt(s.Flow.Client.Addr()), w.net.NodeAt(s.Flow.Server.Addr())
		if s.Flow.Proto != "tcp" || a == "" || b == "" || a == b ||
			slices.Contains(consulPorts, s.Flow.Server.Port()) || len(s.ToServer)+len(s.ToClient) == 0 {
			continue
		}
		crossing = append(crossing, s)
	}
	describe := func(s *topology.Stream) string {
		return fmt.Sprintf("%s (node %s → node %s, %d bytes out, %d back)", s.Flow,
			w.net.NodeAt(s.Flow.Client.Addr()), w.net.NodeAt(s.Flow.Server.Addr()), len(s.ToServer), len(s.ToClient))
	}
	var clear []topology.FlowRef
	for _, marker := range [][]byte{sent, got} {
		if len(marker) >= minWireMarker {
			clear = append(clear, ev.Contains(marker)...)
		}
	}
	switch claim {
	case WirePlaintext:
		for _, ref := range ev.Contains(sent) {
			if slices.ContainsFunc(crossing, func(s *topology.Stream) bool { return s.Flow == ref.Flow }) {
				return fmt.Sprintf("wire: %s crossed between nodes in clear: %s", Quote(sent), ref), nil
			}
		}
		return "", fmt.Errorf("wire: expected %s to cross between nodes in clear, but it did not: %s", Quote(sent), ev.Summary())
	case WireEncrypted:
		if len(crossing) == 0 {
			return "", fmt.Errorf("wire: no connection between two nodes carried the probe (outside Consul's own ports), so nothing shows it crossed the network encrypted: %s", ev.Summary())
		}
		if len(clear) > 0 {
			return "", fmt.Errorf("wire: the probe's bytes appear in clear on the wire: %s", clear[0])
		}
		var flows []string
		for _, s := range crossing {
			if ok, why := ev.TLSRecords(s.Flow); !ok {
				return "", fmt.Errorf("wire: %s is not TLS from end to end: %s", describe(s), why)
			}
			flows = append(flows, describe(s))
		}
		return fmt.Sprintf("wire: %d connection(s) between nodes, TLS records only, and %s nowhere in clear: %s",
			len(crossing), Quote(sent), strings.Join(flows, "; ")), nil
	}
	return "", fmt.Errorf("wire: unknown claim %q", claim)
}
