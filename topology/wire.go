package topology

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Flow is one TCP connection or one UDP conversation seen on the wire.
// Client is the endpoint that sent the TCP SYN; when no SYN was captured
// (or for UDP), the sender of the first frame seen.
type Flow struct {
	Proto  string // "tcp" or "udp"
	Client netip.AddrPort
	Server netip.AddrPort
}

func (f Flow) String() string { return fmt.Sprintf("%s %s → %s", f.Proto, f.Client, f.Server) }

// FlowRef points into a flow's payload: the direction and the byte offset
// in that direction's reassembled stream.
type FlowRef struct {
	Flow     Flow
	ToServer bool
	Offset   int
}

func (r FlowRef) String() string {
	dir := "to the server"
	if !r.ToServer {
		dir = "to the client"
	}
	return fmt.Sprintf("%s, %s, at byte %d", r.Flow, dir, r.Offset)
}

// Stream is what a flow carried: the payload in each direction, in order
// (TCP: reassembled by sequence number, each byte once however often it
// was sent or seen; UDP: the datagrams one after another, each once).
type Stream struct {
	Flow               Flow
	ToServer, ToClient []byte
	// Gaps lists the byte ranges of the TCP stream that no captured
	// segment carried (zero bytes stand in for them), per direction.
	GapsToServer, GapsToClient []Gap
	// Nodes are the captured nodes whose eth0 the flow crossed.
	Nodes []string
	// datagrams keep UDP message boundaries: Contains looks inside each.
	udpToServer, udpToClient [][]byte
}

// Gap is a range of a stream that the capture did not see.
type Gap struct{ Offset, Length int }

// WireEvidence is what a capture saw on the nodes' cables.
type WireEvidence struct {
	// Frames counts the frames captured (end markers excluded), on all
	// the captured nodes together: a frame between two captured nodes
	// counts twice, once on each cable.
	Frames int
	// Dropped counts the frames the kernel dropped because a capture
	// socket's buffer was full; Truncated, frames larger than the read
	// buffer. Both should be 0.
	Dropped, Truncated int
	// Incomplete says why frames might be missing at the end.
	Incomplete []string

	lab     *Lab
	streams map[flowKey]*building
	order   []flowKey
	nodes   map[netip.Addr]string
}

type flowKey struct {
	proto string
	a, b  netip.AddrPort // a < b
}

type segment struct {
	seq     uint32
	payload []byte
}

type datagram struct {
	node     string
	outgoing bool
	payload  []byte
}

type building struct {
	key       flowKey
	first     netip.AddrPort // sender of the first frame seen
	synFrom   netip.AddrPort // sender of the SYN (without ACK), if seen
	synAckTo  netip.AddrPort // receiver of a SYN+ACK, if seen
	isn       map[netip.AddrPort]uint32
	segs      map[netip.AddrPort][]segment
	datagrams map[netip.AddrPort][]datagram
	nodes     map[string]bool
	stream    *Stream
}

func newEvidence(l *Lab) *WireEvidence {
	ev := &WireEvidence{lab: l, streams: map[flowKey]*building{}, nodes: map[netip.Addr]string{}}
	for _, n := range l.Nodes() {
		ev.nodes[n.addr] = n.name
	}
	return ev
}

// add parses one Ethernet frame: IPv4 carrying TCP or UDP is kept, the
// rest (ARP, IPv6 neighbour discovery) is only counted.
func (ev *WireEvidence) add(f frame) {
	ev.Frames++
	d := f.data
	if len(d) < 14 {
		return
	}
	etherType := binary.BigEndian.Uint16(d[12:14])
	d = d[14:]
	if etherType == 0x8100 && len(d) >= 4 { // a VLAN tag, in case
		etherType, d = binary.BigEndian.Uint16(d[2:4]), d[4:]
	}
	if etherType != 0x0800 || len(d) < 20 || d[0]>>4 != 4 {
		return
	}
	ihl := int(d[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(d[2:4]))
	if total == 0 || total > len(d) { // 0: a large GSO frame
		total = len(d)
	}
	if ihl < 20 || total < ihl {
		return
	}
	if fragOff := binary.BigEndian.Uint16(d[6:8]) & 0x3fff; fragOff != 0 {
		return // a fragment: never seen on these links (no MTU change)
	}
	proto := d[9]
	src, _ := netip.AddrFromSlice(d[12:16])
	dst, _ := netip.AddrFromSlice(d[16:20])
	l4 := d[ihl:total]
	switch proto {
	case 6: // TCP
		if len(l4) < 20 {
			return
		}
		off := int(l4[12]>>4) * 4
		if off < 20 || off > len(l4) {
			return
		}
		from := netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2]))
		to := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4]))
		b := ev.flow("tcp", from, to, f.node)
		seq, flags := binary.BigEndian.Uint32(l4[4:8]), l4[13]
		const fin, syn, ack = 0x01, 0x02, 0x10
		if flags&syn != 0 {
			b.isn[from] = seq
			if flags&ack == 0 {
				b.synFrom = from
			} else {
				b.synAckTo = to
			}
			seq++ // the SYN takes one sequence number
		}
		if payload := l4[off:]; len(payload) > 0 {
			b.segs[from] = append(b.segs[from], segment{seq, payload}) // the frame is the capture's own copy
		}
	case 17: // UDP
		if len(l4) < 8 {
			return
		}
		from := netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2]))
		to := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4]))
		b := ev.flow("udp", from, to, f.node)
		b.datagrams[from] = append(b.datagrams[from], datagram{f.node, f.outgoing, l4[8:]})
	}
}

func (ev *WireEvidence) flow(proto string, from, to netip.AddrPort, node string) *building {
	k := flowKey{proto, from, to}
	if to.Compare(from) < 0 {
		k.a, k.b = to, from
	}
	b, ok := ev.streams[k]
	if !ok {
		b = &building{key: k, first: from, isn: map[netip.AddrPort]uint32{},
			segs: map[netip.AddrPort][]segment{}, datagrams: map[netip.AddrPort][]datagram{}, nodes: map[string]bool{}}
		ev.streams[k] = b
		ev.order = append(ev.order, k)
	}
	b.nodes[node] = true
	return b
}

// finish reassembles every flow.
func (ev *WireEvidence) finish() {
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
		s := &Stream{Flow: Flow{Proto: k.proto, Client: client, Server: server}}
		for n := range b.nodes {
			s.Nodes = append(s.Nodes, n)
		}
		sort.Strings(s.Nodes)
		if k.proto == "tcp" {
			s.ToServer, s.GapsToServer = reassemble(b.segs[client], b.isn, client)
			s.ToClient, s.GapsToClient = reassemble(b.segs[server], b.isn, server)
		} else {
			s.udpToServer = dedupDatagrams(b.datagrams[client])
			s.udpToClient = dedupDatagrams(b.datagrams[server])
			s.ToServer = bytes.Join(s.udpToServer, nil)
			s.ToClient = bytes.Join(s.udpToClient, nil)
		}
		b.stream = s
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

// reassemble puts one direction's segments in sequence order, each byte
// once: a retransmission, or the same segment seen on both ends of a
// flow, overlaps what is already there. The stream starts after the SYN
// if it was seen, else at the lowest sequence number captured.
func reassemble(segs []segment, isn map[netip.AddrPort]uint32, sender netip.AddrPort) ([]byte, []Gap) {
	if len(segs) == 0 {
		return nil, nil
	}
	base, haveSyn := isn[sender]
	if haveSyn {
		base++
	} else {
		base = segs[0].seq
		for _, s := range segs {
			if int32(s.seq-base) < 0 {
				base = s.seq
			}
		}
	}
	type placed struct {
		off     int64
		payload []byte
	}
	ps := make([]placed, 0, len(segs))
	for _, s := range segs {
		ps = append(ps, placed{int64(int32(s.seq - base)), s.payload})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].off < ps[j].off })
	last := ps[len(ps)-1]
	out := make([]byte, 0, max(0, last.off+int64(len(last.payload))))
	var gaps []Gap
	for _, p := range ps {
		end := p.off + int64(len(p.payload))
		if end <= int64(len(out)) {
			continue // already there
		}
		if p.off > int64(len(out)) {
			gaps = append(gaps, Gap{len(out), int(p.off) - len(out)})
			out = append(out, make([]byte, int(p.off)-len(out))...)
		}
		out = append(out, p.payload[int64(len(out))-p.off:]...)
	}
	return out, gaps
}

// dedupDatagrams keeps each datagram once: a datagram between two
// captured nodes is seen leaving one and entering the other, so the
// sender's copies are kept if the sender was captured, else those of the
// first receiving node.
func dedupDatagrams(ds []datagram) [][]byte {
	var out [][]byte
	for _, d := range ds {
		if d.outgoing {
			out = append(out, d.payload)
		}
	}
	if len(out) > 0 || len(ds) == 0 {
		return out
	}
	for _, d := range ds {
		if d.node == ds[0].node {
			out = append(out, d.payload)
		}
	}
	return out
}

// Streams lists every flow seen, in the order of their first frame.
func (ev *WireEvidence) Streams() []*Stream {
	out := make([]*Stream, 0, len(ev.order))
	for _, k := range ev.order {
		out = append(out, ev.streams[k].stream)
	}
	return out
}

// Stream returns what flow carried.
func (ev *WireEvidence) Stream(f Flow) (*Stream, bool) {
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
func (ev *WireEvidence) Contains(marker []byte) []FlowRef {
	if len(marker) == 0 {
		return nil
	}
	var refs []FlowRef
	for _, s := range ev.Streams() {
		for _, dir := range []struct {
			toServer bool
			data     []byte
			parts    [][]byte
		}{{true, s.ToServer, s.udpToServer}, {false, s.ToClient, s.udpToClient}} {
			if s.Flow.Proto == "udp" {
				base := 0
				for _, d := range dir.parts {
					for _, off := range indexAll(d, marker) {
						refs = append(refs, FlowRef{s.Flow, dir.toServer, base + off})
					}
					base += len(d)
				}
				continue
			}
			for _, off := range indexAll(dir.data, marker) {
				refs = append(refs, FlowRef{s.Flow, dir.toServer, off})
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
func (ev *WireEvidence) TLSRecords(f Flow) (ok bool, why string) {
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
		gaps []Gap
	}{{"to the server", s.ToServer, s.GapsToServer}, {"to the client", s.ToClient, s.GapsToClient}} {
		if len(dir.gaps) > 0 {
			return false, fmt.Sprintf("%s, %s: bytes %d to %d were not captured", f, dir.name, dir.gaps[0].Offset, dir.gaps[0].Offset+dir.gaps[0].Length)
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

// BytesBetween counts the payload bytes (TCP and UDP, both directions)
// of the flows between node a and node b.
func (ev *WireEvidence) BytesBetween(a, b string) int {
	total := 0
	for _, s := range ev.Streams() {
		c, sv := ev.nodes[s.Flow.Client.Addr()], ev.nodes[s.Flow.Server.Addr()]
		if (c == a && sv == b) || (c == b && sv == a) {
			total += len(s.ToServer) + len(s.ToClient)
		}
	}
	return total
}

// Summary lists the flows, one a line, for a failure message.
func (ev *WireEvidence) Summary() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d frames captured", ev.Frames)
	if ev.Dropped > 0 || ev.Truncated > 0 {
		fmt.Fprintf(&sb, " (%d dropped, %d truncated)", ev.Dropped, ev.Truncated)
	}
	for _, s := range ev.Streams() {
		fmt.Fprintf(&sb, "\n  %s: %d bytes to the server, %d back", s.Flow, len(s.ToServer), len(s.ToClient))
		if c, sv := ev.nodes[s.Flow.Client.Addr()], ev.nodes[s.Flow.Server.Addr()]; c != "" || sv != "" {
			fmt.Fprintf(&sb, " (node %s → node %s)", orDash(c), orDash(sv))
		}
	}
	for _, why := range ev.Incomplete {
		fmt.Fprintf(&sb, "\n  incomplete: %s", why)
	}
	return sb.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
