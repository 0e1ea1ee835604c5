package steps

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// bandwidthType is the bandwidth step.
var bandwidthType = Typed(Type{
	Name:    "bandwidth",
	Cluster: OwnClusterOnly("it shapes the links of the scenario's own nodes"),
	OnNode:  true,
	Summary: "limits how fast the node sends (a tbf qdisc on its link); off lifts the limit",
	Fields:  "RATE: bits (1mbit, 500kbit) or bytes (100KB/s) per second, or off; on the node the item names with node:",
	Example: "- bandwidth: 1mbit",
	Timeout: 10 * time.Second,
}, buildBandwidth)

// BandwidthSpec is the value of a bandwidth step: a rate, or off.
type BandwidthSpec string

type bandwidth struct {
	rate    string
	perSecB uint64 // bytes per second; 0 lifts the limit
}

var rateRE = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|B/s|KB/s|MB/s|GB/s)$`)

func buildBandwidth(d *spec.Decoder, val *BandwidthSpec, f *spec.Fields) Step {
	s, v := string(*val), f.At()
	b := &bandwidth{rate: strings.TrimSpace(s)}
	if b.rate != "off" {
		m := rateRE.FindStringSubmatch(b.rate)
		if m == nil {
			d.Errorf(v, "bandwidth: %q is not a rate like 1mbit, 500kbit or 100KB/s (or off)", s)
			return nil
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		scale := map[string]float64{"bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8,
			"B/s": 1, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9}[m[2]]
		if b.perSecB = uint64(n * scale); b.perSecB < 1000 {
			d.Errorf(v, "bandwidth: %q is below 1000 bytes per second; the agents' gossip alone needs more", s)
		}
	}
	// Its node was checked with the item's node:; without nodes it has none.
	d.NeedNodes(v, "bandwidth")
	return b
}

func (b *bandwidth) String() string {
	if b.perSecB == 0 {
		return "no rate limit"
	}
	return fmt.Sprintf("at most %s", b.rate)
}

func (b *bandwidth) Change() Change {
	return Change{Kind: ChangeFault, What: "bandwidth " + b.rate, Span: "bandwidth", End: b.perSecB == 0}
}

func (b *bandwidth) Run(ctx context.Context, env Env) error {
	net, err := networkOf(env)
	if err != nil {
		return err
	}
	return net.SetBandwidth(env.Node(), b.perSecB)
}
