package topology

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scenario-tool/scenario/flows"
)

// Pure logic: frames built with gopacket, filed as a capture would file
// them (no namespaces needed).

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	macX = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99} // a link no captured node has
)

// build serializes layers into a frame, checksums and lengths computed.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	type checksummed interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	for _, l := range ls {
		if c, ok := l.(checksummed); ok {
			for _, o := range ls {
				if nl, ok := o.(gopacket.NetworkLayer); ok {
					_ = c.SetNetworkLayerForChecksum(nl)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func eth(src net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: macB, EthernetType: typ}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst), NextHeader: next, HopLimit: 64}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(), Protocol: proto}
}

// evidenceOf files frames as Stop does, a and b being the captured nodes.
func evidenceOf(frames ...frame) *WireEvidence {
	ev := newEvidence(nil)
	ev.labMACs[string(macA)], ev.labMACs[string(macB)] = "a", "b"
	ev.links["a"] = map[int]string{2: "eth0"}
	ev.links["b"] = map[int]string{2: "eth0"}
	at := time.Unix(1, 0)
	for i, f := range frames {
		f.at, f.link = at.Add(time.Duration(i)*time.Millisecond), 2
		if f.sender == 0 {
			f.sender = flows.SenderOther
		}
		ev.add(f)
	}
	ev.finish()
	return ev
}

func leaving(node string, sender flows.Sender, data []byte) frame {
	return frame{node: node, outgoing: true, sender: sender, data: data}
}

func TestEvidenceFilesIPv6TCPByWhoseSocketsSentIt(t *testing.T) {
	const client, server = "fd77::1", "fd77::2"
	syn := &layers.TCP{SrcPort: 40000, DstPort: 21000, Seq: 100, SYN: true, Window: 1000}
	synAck := &layers.TCP{SrcPort: 21000, DstPort: 40000, Seq: 500, Ack: 101, SYN: true, ACK: true, Window: 1000}
	hello := &layers.TCP{SrcPort: 40000, DstPort: 21000, Seq: 101, Ack: 501, ACK: true, PSH: true, Window: 1000}
	back := &layers.TCP{SrcPort: 21000, DstPort: 40000, Seq: 501, Ack: 107, ACK: true, PSH: true, Window: 1000}
	rst := &layers.TCP{SrcPort: 21000, DstPort: 40000, Seq: 507, RST: true, Window: 0}
	frames := []frame{
		leaving("a", flows.SenderProxy, build(t, eth(macA, layers.EthernetTypeIPv6), ip6(client, server, layers.IPProtocolTCP), syn)),
		// The same frame arriving at b: a duplicate, left out.
		{node: "b", sender: flows.SenderOutside, data: build(t, eth(macA, layers.EthernetTypeIPv6), ip6(client, server, layers.IPProtocolTCP), syn)},
		leaving("b", flows.SenderProxy, build(t, eth(macB, layers.EthernetTypeIPv6), ip6(server, client, layers.IPProtocolTCP), synAck)),
		leaving("a", flows.SenderProxy, build(t, eth(macA, layers.EthernetTypeIPv6), ip6(client, server, layers.IPProtocolTCP), hello, gopacket.Payload("HELLO\n"))),
		leaving("b", flows.SenderProxy, build(t, eth(macB, layers.EthernetTypeIPv6), ip6(server, client, layers.IPProtocolTCP), back, gopacket.Payload("hello\n"))),
		// An untagged reset without payload (the kernel's, for a closed
		// socket) does not make b's end anyone else's.
		leaving("b", flows.SenderOther, build(t, eth(macB, layers.EthernetTypeIPv6), ip6(server, client, layers.IPProtocolTCP), rst)),
	}
	ev := evidenceOf(frames...)
	if ev.Frames != 5 || len(ev.Unclassified) != 0 {
		t.Fatalf("%d frames kept, unclassified %v; want 5 and none\n%s", ev.Frames, ev.Unclassified, ev.Summary())
	}
	streams := ev.Streams()
	if len(streams) != 1 {
		t.Fatalf("%d flows, want 1\n%s", len(streams), ev.Summary())
	}
	s := streams[0]
	if s.Flow.String() != "tcp [fd77::1]:40000 → [fd77::2]:21000" || string(s.ToServer) != "HELLO\n" || string(s.ToClient) != "hello\n" {
		t.Errorf("flow %s carried %q and %q", s.Flow, s.ToServer, s.ToClient)
	}
	if s.Carrier() != flows.SenderProxy || s.Client.Node != "a" || s.Server.Node != "b" {
		t.Errorf("carrier %v, ends on %q and %q; want proxies, a and b\n%s", s.Carrier(), s.Client.Node, s.Server.Node, ev.Summary())
	}
	if refs := ev.Contains([]byte("hello\n")); len(refs) != 1 || refs[0].ToServer {
		t.Errorf("Contains: %v, want the reply only", refs)
	}
	if refs := ev.ContainsFold([]byte("hello\n")); len(refs) != 2 {
		t.Errorf("ContainsFold: %v, want both ways", refs)
	}
	// Offsets are the payload's, whatever bytes come before (not UTF-8).
	if got := asciiLower([]byte("\xff\xfeHeLLo")); string(got) != "\xff\xfehello" {
		t.Errorf("asciiLower: %q", got)
	}
}

func TestEvidenceTellsOtherSendersAndOutsiders(t *testing.T) {
	udp := func(src, dst uint16) *layers.UDP {
		return &layers.UDP{SrcPort: layers.UDPPort(src), DstPort: layers.UDPPort(dst)}
	}
	ev := evidenceOf(
		// Gossip between agents, both ways.
		leaving("a", flows.SenderAgent, build(t, eth(macA, layers.EthernetTypeIPv4), ip4("10.77.0.1", "10.77.0.2", layers.IPProtocolUDP), udp(8301, 8301), gopacket.Payload("ping"))),
		leaving("b", flows.SenderAgent, build(t, eth(macB, layers.EthernetTypeIPv4), ip4("10.77.0.2", "10.77.0.1", layers.IPProtocolUDP), udp(8301, 8301), gopacket.Payload("ack!"))),
		// A relay that is nobody's, to the same port number.
		leaving("b", flows.SenderOther, build(t, eth(macB, layers.EthernetTypeIPv4), ip4("10.77.0.2", "10.77.0.1", layers.IPProtocolUDP), udp(5555, 8301), gopacket.Payload("uryyb"))),
		// From a link no captured node sent on.
		frame{node: "a", sender: flows.SenderOutside, data: build(t, eth(macX, layers.EthernetTypeIPv4), ip4("10.77.0.9", "10.77.0.1", layers.IPProtocolUDP), udp(6666, 7777), gopacket.Payload("from outside"))},
	)
	want := map[string]flows.Sender{
		"udp 10.77.0.1:8301 → 10.77.0.2:8301": flows.SenderAgent,
		"udp 10.77.0.2:5555 → 10.77.0.1:8301": flows.SenderOther,
		"udp 10.77.0.9:6666 → 10.77.0.1:7777": flows.SenderOutside,
	}
	for _, s := range ev.Streams() {
		w, ok := want[s.Flow.String()]
		if !ok || s.Carrier() != w {
			t.Errorf("%s: carrier %v, want %v", s.Flow, s.Carrier(), w)
		}
		delete(want, s.Flow.String())
	}
	if len(want) > 0 {
		t.Errorf("not filed: %v\n%s", want, ev.Summary())
	}
}

func TestEvidenceNamesWhatItCannotClassify(t *testing.T) {
	fragment := ip4("10.77.0.1", "10.77.0.2", layers.IPProtocolUDP)
	fragment.Flags, fragment.FragOffset = layers.IPv4MoreFragments, 0
	later := ip4("10.77.0.1", "10.77.0.2", layers.IPProtocolUDP)
	later.FragOffset = 185
	trailer := append(build(t, eth(macA, layers.EthernetTypeIPv4), ip4("10.77.0.1", "10.77.0.2", layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("x")), "hidden"...)
	ev := evidenceOf(
		leaving("a", 0, build(t, eth(macA, layers.EthernetType(0x88b6)), gopacket.Payload("a private protocol"))),
		leaving("a", 0, build(t, eth(macA, layers.EthernetTypeIPv4), fragment, gopacket.Payload("12345678"))),
		leaving("a", 0, build(t, eth(macA, layers.EthernetTypeIPv4), later, gopacket.Payload("more"))),
		leaving("a", 0, build(t, eth(macA, layers.EthernetTypeIPv4), ip4("10.77.0.1", "10.77.0.2", layers.IPProtocolGRE), gopacket.Payload("tunnelled"))),
		leaving("a", 0, trailer),
		leaving("a", 0, build(t, eth(macA, layers.EthernetTypeIPv6), ip6("fd77::1", "fd77::2", layers.IPProtocolIPv6Fragment),
			// gopacket cannot serialize a fragment header: next header UDP,
			// offset 0 with more to come, identification 7.
			gopacket.Payload(append([]byte{17, 0, 0, 1, 0, 0, 0, 7}, "12345678"...)))),
		// Control traffic: filed nowhere, and no complaint.
		leaving("a", 0, build(t, eth(macA, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: []byte{10, 77, 0, 1},
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 77, 0, 2}})),
		leaving("a", 0, build(t, eth(macA, layers.EthernetTypeIPv6), ip6("fe80::1", "ff02::1:ff00:2", layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)},
			&layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("fe80::2")})),
		leaving("a", 0, build(t, eth(macA, layers.EthernetTypeIPv4), ip4("0.0.0.0", "224.0.0.22", layers.IPProtocolIGMP),
			gopacket.Payload([]byte{0x22, 0, 0xf9, 0x02, 0, 0, 0, 0}))),
		// An echo request with a payload is a flow like any other.
		leaving("a", 0, build(t, eth(macA, layers.EthernetTypeIPv4), ip4("10.77.0.1", "10.77.0.2", layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 1}, gopacket.Payload("hello over ping"))),
	)
	want := []string{"EtherType", "an IPv4 fragment", "an IPv4 fragment", "protocol GRE", "bytes after the IP datagram", "an IPv6 fragment"}
	if len(ev.Unclassified) != len(want) {
		t.Fatalf("unclassified: %q, want %d", ev.Unclassified, len(want))
	}
	for i, w := range want {
		if !strings.Contains(ev.Unclassified[i], w) || !strings.Contains(ev.Unclassified[i], "(it left node a by eth0)") {
			t.Errorf("unclassified[%d] = %q, want %q and where", i, ev.Unclassified[i], w)
		}
	}
	streams := ev.Streams()
	if len(streams) != 1 || streams[0].Flow.String() != "icmp 10.77.0.1:9 → 10.77.0.2:9" || string(streams[0].ToServer) != "hello over ping" {
		t.Errorf("want the echo as the one flow\n%s", ev.Summary())
	}
}

func TestWritePcapKeepsEachFrameOnce(t *testing.T) {
	syn := &layers.TCP{SrcPort: 40000, DstPort: 21000, Seq: 100, SYN: true, Window: 1000}
	frames := []frame{
		leaving("a", flows.SenderProxy, build(t, eth(macA, layers.EthernetTypeIPv4), ip4("10.77.0.1", "10.77.0.2", layers.IPProtocolTCP), syn)),
		{node: "b", sender: flows.SenderOutside, data: build(t, eth(macA, layers.EthernetTypeIPv4), ip4("10.77.0.1", "10.77.0.2", layers.IPProtocolTCP), syn)},
	}
	ev := evidenceOf(frames...)
	path := filepath.Join(t.TempDir(), "wire.pcap")
	if err := ev.WritePcapFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); !ok || !tcp.SYN || ci.Timestamp.IsZero() {
			t.Errorf("frame %d: %v", n, p)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d frames in the pcap, want 1", n)
	}
}

// The kernel filter of each capture socket: never lo, the end markers
// always, frames leaving by whose socket sent them, and (the rest's
// socket) every frame arriving.
func TestTapFilterKeepsWhatEachSocketIsFor(t *testing.T) {
	for _, kind := range []flows.Sender{flows.SenderAgent, flows.SenderProxy, flows.SenderOther} {
		prog, err := tapFilter(kind, 1)
		if err != nil || len(prog) == 0 {
			t.Fatalf("%v: %v", kind, err)
		}
	}
}

// A frame sent past a node's packet taps (PACKET_QDISC_BYPASS, root in
// the node) bears the node's own address and is seen only where it
// arrives: a copy of no frame seen leaving, it is kept and fails the
// claim; a copy of one seen leaving is left out, and so is one that
// came outside its sender's start and end markers (Stop tells).
func TestEvidenceKeepsFramesThatArriveWithoutLeaving(t *testing.T) {
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9999}
	sent := build(t, eth(macB, layers.EthernetTypeIPv4), ip4("10.77.0.2", "10.77.0.1", layers.IPProtocolUDP), udp, gopacket.Payload("hello\n"))
	copied := build(t, eth(macB, layers.EthernetTypeIPv4), ip4("10.77.0.2", "10.77.0.1", layers.IPProtocolUDP), udp, gopacket.Payload("seen\n"))
	ev := evidenceOf(
		leaving("b", flows.SenderOther, copied),
		frame{node: "a", sender: flows.SenderOutside, data: copied, mustHaveLeft: true},
		frame{node: "a", sender: flows.SenderOutside, data: sent, mustHaveLeft: true},
		// Before b's start marker or after its end marker.
		frame{node: "a", sender: flows.SenderOutside, data: sent},
	)
	if ev.Frames != 2 || len(ev.Unclassified) != 1 || !strings.Contains(ev.Unclassified[0], "from node b's address "+macB.String()+" that reached node a by eth0, which no capture saw leave a node") {
		t.Fatalf("%d frames kept, unclassified %q; want the one that never left, named", ev.Frames, ev.Unclassified)
	}
	if refs := ev.Contains([]byte("hello\n")); len(refs) != 1 {
		t.Errorf("the bytes of the frame that never left: %v, want found once", refs)
	}
}

// A four-tuple used again (a fixed source port, the first connection
// reset so that it leaves no TIME_WAIT; no privilege needed) starts the
// second connection at a new ISN: the first's bytes, placed against it,
// fell before the stream's start and were left out, so its flow carried
// "nothing". A segment before the SYN's sequence number (crafted) did too.
func TestEvidenceKeepsTheBytesOfAFourTupleUsedAgain(t *testing.T) {
	const client, server = "10.77.0.2", "10.77.0.1"
	seg := func(seq uint32, syn, rst bool, payload string) frame {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 7777, Seq: seq, SYN: syn, RST: rst, ACK: !syn, Window: 1000}
		ip := ip4(client, server, layers.IPProtocolTCP)
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		return leaving("b", flows.SenderOther, build(t, eth(macB, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(payload)))
	}
	for name, frames := range map[string][]frame{
		"the four-tuple used again": {seg(1000, true, false, ""), seg(1001, false, false, "hello\n"), seg(1007, false, true, ""),
			seg(90000, true, false, ""), seg(90001, false, true, "")},
		"a segment before the SYN's": {seg(1000, true, false, ""), seg(500, false, false, "hello\n")},
	} {
		ev := evidenceOf(frames...)
		if refs := ev.Contains([]byte("hello\n")); len(refs) != 1 {
			t.Errorf("%s: found %d times, want once\n%s", name, len(refs), ev.Summary())
		}
		for _, s := range ev.Streams() {
			if s.Payload() == 0 {
				t.Errorf("%s: the flow carried nothing\n%s", name, ev.Summary())
			}
		}
	}
}

// Segments far apart in sequence number (crafted, or a capture that
// missed most of a long stream) keep every captured byte, and the
// payload stands in for what was not seen with a bounded run of zero
// bytes: a gap of a gigabyte is not a gigabyte of memory. Placed one by
// one against a base that moved, a segment more than 2^31 past the final
// base fell "before" the stream and was left out.
func TestEvidenceKeepsSegmentsFarApartWithoutFillingTheGap(t *testing.T) {
	const client, server = "10.77.0.2", "10.77.0.1"
	seg := func(seq uint32, payload string) frame {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 7777, Seq: seq, ACK: true, Window: 1000}
		ip := ip4(client, server, layers.IPProtocolTCP)
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		return leaving("b", flows.SenderOther, build(t, eth(macB, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(payload)))
	}
	ev := evidenceOf(seg(0, "aaa"), seg(0x4000_0000, "hello\n"), seg(0xc000_0000, "bbb"))
	for _, probe := range []string{"aaa", "hello\n", "bbb"} {
		if refs := ev.Contains([]byte(probe)); len(refs) != 1 {
			t.Errorf("%q found %d times, want once\n%s", probe, len(refs), ev.Summary())
		}
	}
	for _, s := range ev.Streams() {
		if s.Payload() > 1<<20 {
			t.Errorf("%d bytes of payload for 12 captured", s.Payload())
		}
		want := []flows.Gap{{Offset: 3, Length: 0x4000_0000 - 3, Filled: maxGapFill}, {Offset: 3 + maxGapFill + 3, Length: 0x4000_0000 - 3, Filled: maxGapFill}}
		if !slices.Equal(s.GapsToServer, want) {
			t.Errorf("gaps %+v, want %+v", s.GapsToServer, want)
		}
	}
}
