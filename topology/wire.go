package topology

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/scenario-tool/scenario/flows"
)

// WireEvidence is what a capture saw on the nodes' links: every frame that
// left a captured node (with whose socket sent it) and every frame that
// reached one from a link no captured node sent on.
type WireEvidence struct {
	flows.Tally

	lab     *Lab
	streams map[flowKey]*building
	order   []flowKey
	labMACs map[string]string // every link of a captured node → its node
	// arrived are the frames that reached a node from a captured node's
	// address: each must be a copy of a frame kept where it left.
	arrived []frame
	links   map[string]map[int]string // node → ifindex → link name
	kept    []frame
}

type flowKey struct {
	proto string
	a, b  netip.AddrPort // a < b
}

type segment struct {
	seq     uint32
	payload []byte
}

// epoch is one connection's segments in one direction. A SYN with
// another sequence number starts the next: the four-tuple used again,
// whose bytes reassembled against the new connection's ISN would fall
// before its start.
type epoch struct {
	isn     uint32
	haveSyn bool
	segs    []segment
}

type building struct {
	key       flowKey
	first     netip.AddrPort              // sender of the first frame seen
	synFrom   netip.AddrPort              // sender of the SYN (without ACK) or echo request, if seen
	synAckTo  netip.AddrPort              // receiver of a SYN+ACK, if seen
	epochs    map[netip.AddrPort][]*epoch // TCP, by sender, in the order seen
	datagrams map[netip.AddrPort][][]byte
	ends      map[netip.AddrPort]*flows.Endpoint
	nodes     map[string]bool
	stream    *flows.Stream
}

func newEvidence(l *Lab) *WireEvidence {
	return &WireEvidence{lab: l, streams: map[flowKey]*building{}, labMACs: map[string]string{}, links: map[string]map[int]string{}}
}

// add keeps a frame. A captured node's frame seen arriving at another is
// held until finish, which keeps it only if no capture saw it leave; one
// that came before its sender's start marker or after its end marker may
// have left unseen, and is left out.
func (ev *WireEvidence) add(f frame) {
	if !f.outgoing && ev.labMACs[macOf(f.data)] != "" {
		if f.mustHaveLeft {
			ev.arrived = append(ev.arrived, f)
		}
		return
	}
	ev.Frames++
	ev.kept = append(ev.kept, f)
}

// macOf is a frame's sender address, as a key of labMACs.
func macOf(data []byte) string {
	if len(data) < 12 {
		return ""
	}
	return string(data[6:12])
}

// unseenLeaving keeps the frames that arrived from a captured node's
// address without any capture seeing them leave: sent past the node's
// packet taps (a packet socket with PACKET_QDISC_BYPASS), or from
// somewhere that bears the lab's address. Their bytes crossed a cable
// all the same; they are searched, and fail an encrypted claim.
func (ev *WireEvidence) unseenLeaving() {
	left := map[string]bool{}
	for _, f := range ev.kept {
		if f.outgoing {
			left[string(f.data)] = true
		}
	}
	for _, f := range ev.arrived {
		if left[string(f.data)] {
			continue
		}
		ev.Frames++
		ev.kept = append(ev.kept, f)
		ev.Unclassified = append(ev.Unclassified, fmt.Sprintf("a frame of %d bytes from node %s's address %s that reached node %s by %s, which no capture saw leave a node (sent past the node's packet taps, as with PACKET_QDISC_BYPASS)",
			len(f.data), ev.labMACs[macOf(f.data)], net.HardwareAddr(f.data[6:12]), f.node, ev.linkName(f)))
	}
}

// finish decodes every frame kept, in the order the kernel saw them, and
// reassembles every flow.
func (ev *WireEvidence) finish() {
	ev.unseenLeaving()
	sort.SliceStable(ev.kept, func(i, j int) bool { return ev.kept[i].at.Before(ev.kept[j].at) })
	for _, f := range ev.kept {
		ev.decode(f)
	}
	for _, k := range ev.order {
		b := ev.streams[k]
		client := b.first
		switch {
		case b.synFrom.IsValid():
			client = b.synFrom
		case b.synAckTo.IsValid():
			client = b.synAckTo
		default:
			// No handshake seen (a UDP conversation, or a TCP connection
			// older than the capture): the first sender may be the server
			// answering. The client is the end on an ephemeral port.
			if c, ok := ephemeralEnd(k.a, k.b); ok {
				client = c
			}
		}
		server := k.a
		if server == client {
			server = k.b
		}
		s := &flows.Stream{Flow: flows.Flow{Proto: k.proto, Client: client, Server: server}}
		for _, e := range []struct {
			addr netip.AddrPort
			dst  *flows.Endpoint
		}{{client, &s.Client}, {server, &s.Server}} {
			*e.dst = flows.Endpoint{Addr: e.addr}
			if end, ok := b.ends[e.addr]; ok {
				*e.dst = *end
			}
		}
		for n := range b.nodes {
			s.Nodes = append(s.Nodes, n)
		}
		sort.Strings(s.Nodes)
		if k.proto == "tcp" {
			s.ToServer, s.GapsToServer = reassembleEpochs(b.epochs[client])
			s.ToClient, s.GapsToClient = reassembleEpochs(b.epochs[server])
		} else {
			s.ToServer = bytes.Join(b.datagrams[client], nil)
			s.ToClient = bytes.Join(b.datagrams[server], nil)
		}
		b.stream = s
	}
}

// decode files one frame under its flow (decodeFrame reads it); what it
// cannot file is Unclassified, except the control traffic that carries
// nothing of anyone's (ARP, IGMP, ICMP errors, neighbour discovery, MLD).
func (ev *WireEvidence) decode(f frame) {
	d := decodeFrame(f.data)
	switch d.kind {
	case frameUnclassified:
		ev.unclassified(f, d.why)
	case frameTCP:
		b := ev.flow("tcp", d.from, d.to, f)
		seq := d.seq
		e := b.epoch(d.from)
		if d.syn {
			if (e.haveSyn && e.isn != seq) || (!e.haveSyn && len(e.segs) > 0) {
				e = &epoch{}
				b.epochs[d.from] = append(b.epochs[d.from], e)
			}
			e.isn, e.haveSyn = seq, true
			if !d.ack {
				b.synFrom = d.from
			} else {
				b.synAckTo = d.to
			}
			seq++ // the SYN takes one sequence number
		}
		b.sentBy(d.from, f, len(d.payload) > 0 || d.syn)
		if len(d.payload) > 0 {
			e.segs = append(e.segs, segment{seq, d.payload}) // the frame is the capture's own copy
		}
	case frameUDP:
		b := ev.flow("udp", d.from, d.to, f)
		b.sentBy(d.from, f, len(d.payload) > 0)
		b.datagrams[d.from] = append(b.datagrams[d.from], d.payload)
	case frameEcho:
		b := ev.flow(d.proto, d.from, d.to, f)
		if d.request {
			b.synFrom = d.from
		}
		b.sentBy(d.from, f, len(d.payload) > 0)
		b.datagrams[d.from] = append(b.datagrams[d.from], d.payload)
	}
}

func (ev *WireEvidence) unclassified(f frame, what string) {
	dir := "left"
	if !f.outgoing {
		dir = "reached"
	}
	ev.Unclassified = append(ev.Unclassified, fmt.Sprintf("%s (it %s node %s by %s)", what, dir, f.node, ev.linkName(f)))
}

func (ev *WireEvidence) linkName(f frame) string {
	if name := ev.links[f.node][f.link]; name != "" {
		return name
	}
	return fmt.Sprintf("link %d", f.link)
}

func (ev *WireEvidence) flow(proto string, from, to netip.AddrPort, f frame) *building {
	k := flowKey{proto, from, to}
	if to.Compare(from) < 0 {
		k.a, k.b = to, from
	}
	b, ok := ev.streams[k]
	if !ok {
		b = &building{key: k, first: from, epochs: map[netip.AddrPort][]*epoch{},
			datagrams: map[netip.AddrPort][][]byte{}, ends: map[netip.AddrPort]*flows.Endpoint{}, nodes: map[string]bool{}}
		ev.streams[k] = b
		ev.order = append(ev.order, k)
	}
	b.nodes[f.node] = true
	if _, ok := b.ends[from]; !ok {
		b.ends[from] = &flows.Endpoint{Addr: from, Node: f.node, Link: ev.linkName(f)}
	}
	return b
}

// sentBy records whose socket sent a frame from an end: a tagged frame
// always speaks for it; an untagged one when it carries something.
func (b *building) sentBy(from netip.AddrPort, f frame, carries bool) {
	if carries || f.sender&(flows.SenderAgent|flows.SenderProxy) != 0 {
		b.ends[from].Sent |= f.sender
	}
}

// Linux's default ip_local_port_range: where a connecting socket's port
// comes from when it binds none.
const ephemeralLow, ephemeralHigh = 32768, 60999

// ephemeralEnd picks the end of a flow whose port is ephemeral (a
// client's) while the other's is not (a listener's); false when that does
// not tell them apart.
func ephemeralEnd(a, b netip.AddrPort) (netip.AddrPort, bool) {
	ephemeral := func(p netip.AddrPort) bool { return p.Port() >= ephemeralLow && p.Port() <= ephemeralHigh }
	switch {
	case ephemeral(a) && !ephemeral(b):
		return a, true
	case ephemeral(b) && !ephemeral(a):
		return b, true
	}
	return netip.AddrPort{}, false
}

// epoch is the sender's current connection on the four-tuple.
func (b *building) epoch(from netip.AddrPort) *epoch {
	es := b.epochs[from]
	if len(es) == 0 {
		es = []*epoch{{}}
		b.epochs[from] = es
	}
	return es[len(es)-1]
}

// reassembleEpochs is one direction's stream: each connection's bytes,
// one after the other.
func reassembleEpochs(es []*epoch) ([]byte, []flows.Gap) {
	var out []byte
	var gaps []flows.Gap
	for _, e := range es {
		data, g := reassemble(e)
		for _, gap := range g {
			gap.Offset += len(out)
			gaps = append(gaps, gap)
		}
		out = append(out, data...)
	}
	return out, gaps
}

// maxGapFill bounds the zero bytes that stand in for a gap in a stream
// (flows.Gap.Filled): a gap up to it keeps the payload's offsets the
// stream's; a longer one (segments far apart in sequence number, crafted
// or a capture that missed most of a stream) costs no more memory.
const maxGapFill = 4096

// reassemble puts one connection's segments in sequence order, each byte
// once: a retransmission overlaps what is already there. The stream
// starts after the SYN if it was seen, else at the first sequence number
// captured; a segment before it (one before the SYN's, which the
// receiver drops, but which crossed all the same) moves the start back to
// the earliest, so that no byte is left out. Every other segment lies
// after the start, however far.
func reassemble(e *epoch) ([]byte, []flows.Gap) {
	segs := e.segs
	if len(segs) == 0 {
		return nil, nil
	}
	base := segs[0].seq
	if e.haveSyn {
		base = e.isn + 1
	}
	start := base
	for _, s := range segs {
		if int32(s.seq-base) < int32(start-base) {
			start = s.seq
		}
	}
	type placed struct {
		off     int64
		payload []byte
	}
	ps := make([]placed, 0, len(segs))
	size := 0
	for _, s := range segs {
		ps = append(ps, placed{int64(s.seq - start), s.payload})
		size += len(s.payload)
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].off < ps[j].off })
	out := make([]byte, 0, size)
	var gaps []flows.Gap
	var reached int64 // the stream's offset out has reached
	for _, p := range ps {
		end := p.off + int64(len(p.payload))
		if end <= reached {
			continue // already there
		}
		if p.off > reached {
			missing := p.off - reached
			fill := min(missing, maxGapFill)
			gaps = append(gaps, flows.Gap{Offset: len(out), Length: missing, Filled: int(fill)})
			out = append(out, make([]byte, fill)...)
			reached = p.off
		}
		out = append(out, p.payload[reached-p.off:]...)
		reached = end
	}
	return out, gaps
}

// Tallied is how whole the capture is.
func (ev *WireEvidence) Tallied() flows.Tally { return ev.Tally }

// Streams lists every flow seen, in the order of their first frame.
func (ev *WireEvidence) Streams() []*flows.Stream {
	out := make([]*flows.Stream, 0, len(ev.order))
	for _, k := range ev.order {
		out = append(out, ev.streams[k].stream)
	}
	return out
}

// Stream returns what flow carried.
func (ev *WireEvidence) Stream(f flows.Flow) (*flows.Stream, bool) {
	k := flowKey{f.Proto, f.Client, f.Server}
	if k.b.Compare(k.a) < 0 {
		k.a, k.b = k.b, k.a
	}
	b, ok := ev.streams[k]
	if !ok {
		return nil, false
	}
	return b.stream, true
}

// Contains says where marker appears in any payload, across TCP segment
// boundaries (within each UDP datagram): every occurrence.
func (ev *WireEvidence) Contains(marker []byte) []flows.Ref {
	return ev.find(marker, func(b []byte) []byte { return b })
}

// ContainsFold is Contains with ASCII letters matched in either case: a
// relay that upper-cases what it passes on still shows it.
func (ev *WireEvidence) ContainsFold(marker []byte) []flows.Ref {
	return ev.find(marker, asciiLower)
}

// asciiLower lowers ASCII letters only, byte for byte: offsets stay
// those of the payload (bytes.ToLower would read it as UTF-8).
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func (ev *WireEvidence) find(marker []byte, norm func([]byte) []byte) []flows.Ref {
	if len(marker) == 0 {
		return nil
	}
	marker = norm(marker)
	var refs []flows.Ref
	for _, k := range ev.order {
		b := ev.streams[k]
		s := b.stream
		// A UDP flow's datagrams keep their message boundaries: a marker
		// is looked for inside each.
		for _, dir := range []struct {
			toServer bool
			data     []byte
			parts    [][]byte
		}{{true, s.ToServer, b.datagrams[s.Flow.Client]}, {false, s.ToClient, b.datagrams[s.Flow.Server]}} {
			if s.Flow.Proto != "tcp" {
				base := 0
				for _, d := range dir.parts {
					for _, off := range indexAll(norm(d), marker) {
						refs = append(refs, flows.Ref{Flow: s.Flow, ToServer: dir.toServer, Offset: base + off})
					}
					base += len(d)
				}
				continue
			}
			for _, off := range indexAll(norm(dir.data), marker) {
				refs = append(refs, flows.Ref{Flow: s.Flow, ToServer: dir.toServer, Offset: off})
			}
		}
	}
	return refs
}

func indexAll(data, marker []byte) []int {
	var offs []int
	for from := 0; ; {
		i := bytes.Index(data[from:], marker)
		if i < 0 {
			return offs
		}
		offs = append(offs, from+i)
		from += i + 1
	}
}

// TLS record limits (RFC 8446 5.1-5.2): a ciphertext fragment is at most
// 2^14 + 256 bytes.
const (
	tlsMaxRecord = 1<<14 + 256
	tlsHeader    = 5
)

// TLSRecords says whether flow's payload, in each direction, is entirely
// a sequence of TLS records: content type 20–23 (change_cipher_spec,
// alert, handshake, application_data), legacy version 0x0301–0x0303,
// length at most 2^14+256, nothing left over. why names the first
// offending direction and offset.
func (ev *WireEvidence) TLSRecords(f flows.Flow) (ok bool, why string) {
	s, found := ev.Stream(f)
	if !found {
		return false, fmt.Sprintf("no flow %s was captured", f)
	}
	if f.Proto != "tcp" {
		return false, fmt.Sprintf("%s is not TCP", f)
	}
	if len(s.ToServer) == 0 && len(s.ToClient) == 0 {
		return false, fmt.Sprintf("%s carried no payload", f)
	}
	for _, dir := range []struct {
		name string
		data []byte
		gaps []flows.Gap
	}{{"to the server", s.ToServer, s.GapsToServer}, {"to the client", s.ToClient, s.GapsToClient}} {
		if len(dir.gaps) > 0 {
			return false, fmt.Sprintf("%s, %s: %d bytes at payload offset %d were not captured", f, dir.name, dir.gaps[0].Length, dir.gaps[0].Offset)
		}
		if why := tlsRecords(dir.data); why != "" {
			return false, fmt.Sprintf("%s, %s: %s", f, dir.name, why)
		}
	}
	return true, ""
}

// tlsRecords checks that data is whole TLS records; it returns why not.
func tlsRecords(data []byte) string {
	for off := 0; off < len(data); {
		if len(data)-off < tlsHeader {
			return fmt.Sprintf("%d bytes at offset %d are too few for a TLS record header", len(data)-off, off)
		}
		typ, version := data[off], binary.BigEndian.Uint16(data[off+1:off+3])
		length := int(binary.BigEndian.Uint16(data[off+3 : off+5]))
		switch {
		case typ < 20 || typ > 23:
			return fmt.Sprintf("offset %d: content type %d is not a TLS record's (20-23); the bytes there: %q", off, typ, preview(data[off:]))
		case version < 0x0301 || version > 0x0303:
			return fmt.Sprintf("offset %d: version 0x%04x is not a TLS record's (0x0301-0x0303)", off, version)
		case length > tlsMaxRecord:
			return fmt.Sprintf("offset %d: a record of %d bytes exceeds TLS's %d", off, length, tlsMaxRecord)
		case off+tlsHeader+length > len(data):
			return fmt.Sprintf("offset %d: a record of %d bytes runs past the end of the stream (%d bytes)", off, length, len(data))
		}
		off += tlsHeader + length
	}
	return ""
}

func preview(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}

// BytesBetween counts the payload bytes (both directions) of the flows
// between an end on node a and an end on node b.
func (ev *WireEvidence) BytesBetween(a, b string) int {
	total := 0
	for _, s := range ev.Streams() {
		c, sv := s.Client.Node, s.Server.Node
		if (c == a && sv == b) || (c == b && sv == a) {
			total += s.Payload()
		}
	}
	return total
}

// summaryFlows is how many flows Summary lists.
const summaryFlows = 12

// Summary lists the flows, one a line, for a failure message.
func (ev *WireEvidence) Summary() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d frames captured", ev.Frames)
	if ev.Dropped > 0 || ev.Truncated > 0 {
		fmt.Fprintf(&sb, " (%d dropped, %d truncated)", ev.Dropped, ev.Truncated)
	}
	streams := ev.Streams()
	for _, s := range streams[:min(len(streams), summaryFlows)] {
		fmt.Fprintf(&sb, "\n  %s: %d bytes to the server, %d back; client %s; server %s",
			s.Flow, len(s.ToServer), len(s.ToClient), s.Client.Describe(), s.Server.Describe())
	}
	if len(streams) > summaryFlows {
		fmt.Fprintf(&sb, "\n  and %d more flows (the pcap has them all)", len(streams)-summaryFlows)
	}
	for _, why := range ev.Unclassified {
		fmt.Fprintf(&sb, "\n  unclassified: %s", why)
	}
	for _, why := range ev.Incomplete {
		fmt.Fprintf(&sb, "\n  incomplete: %s", why)
	}
	return sb.String()
}

// WritePcap writes every frame kept to w as a pcap file (Ethernet,
// nanosecond timestamps), in the order the kernel saw them: each frame
// once, as it left its node (and those that arrived from outside the
// capture). tcpdump -r and Wireshark read it.
func (ev *WireEvidence) WritePcap(out io.Writer) error {
	w := bufio.NewWriter(out)
	writePcapHeader(w, frameMax)
	for _, fr := range ev.kept {
		writePcapRecord(w, fr.at, fr.data)
	}
	return w.Flush()
}

// WritePcapFile writes the capture (WritePcap) to path, privately.
func (ev *WireEvidence) WritePcapFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = ev.WritePcap(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the capture to %s: %w", path, err)
	}
	return nil
}
