package topology

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The decoder of captured frames reads one chain: Ethernet, then ARP or
// IP (IPv6's extension headers followed), then TCP, UDP, ICMP or IGMP.
// What it does not follow (a VLAN tag, a tunnel, a fragment, a header it
// cannot read, an option that could carry anything) is unclassified: a
// frame's bytes are filed under a flow, or taken for nobody's payload,
// only when the frame was read whole. The tests hold it to gopacket's
// decoders, frame by frame.

// frameKind is what a decoded frame is to the wire evidence.
type frameKind uint8

const (
	// frameUnclassified: its bytes cannot be accounted for.
	frameUnclassified frameKind = iota
	// frameControl carries nobody's payload: ARP, IGMP, ICMP errors,
	// neighbour discovery, multicast listener discovery.
	frameControl
	frameTCP
	frameUDP
	frameEcho // an ICMP or ICMPv6 echo request or reply
)

// decodedFrame is what decodeFrame read in a frame.
type decodedFrame struct {
	kind frameKind
	why  string // frameUnclassified: what the frame is, for a person
	// proto is the flow's: "tcp", "udp", "icmp" or "icmpv6".
	proto string
	// from and to are the ends: the TCP or UDP ports, the echo
	// identifier for both ends of an echo.
	from, to netip.AddrPort
	seq      uint32 // TCP
	syn, ack bool   // TCP
	request  bool   // echo
	// payload is the transport's payload, a slice of the frame that
	// ends where the datagram does: every byte after it is zero.
	payload []byte
}

const (
	ethHeaderLen  = 14
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd

	ipv4HeaderLen = 20
	ipv6HeaderLen = 40

	protoHopByHop    = 0
	protoICMP        = 1
	protoIGMP        = 2
	protoTCP         = 6
	protoUDP         = 17
	protoRouting     = 43
	protoFragment    = 44
	protoICMPv6      = 58
	protoDestination = 60

	// ipv4RouterAlert is the option IGMP's messages carry (RFC 2113).
	ipv4RouterAlert = 148
	// The IPv6 options read: padding, router alert (MLD's, RFC 2711),
	// the jumbogram's length (RFC 2675).
	ipv6PadN        = 1
	ipv6RouterAlert = 5
	ipv6JumboOption = 0xc2
)

func unclassifiedFrame(format string, args ...any) decodedFrame {
	return decodedFrame{kind: frameUnclassified, why: fmt.Sprintf(format, args...)}
}

// decodeFrame reads an Ethernet frame as the wire evidence needs it.
func decodeFrame(data []byte) decodedFrame {
	if len(data) < ethHeaderLen {
		return unclassifiedFrame("a frame of %d bytes that does not decode as Ethernet", len(data))
	}
	etherType := binary.BigEndian.Uint16(data[12:14])
	body := data[ethHeaderLen:]
	var ip ipDatagram
	var bad string
	switch etherType {
	case etherTypeARP:
		return decodeARP(body, len(data))
	case etherTypeIPv4:
		ip, bad = decodeIPv4(body)
	case etherTypeIPv6:
		ip, bad = decodeIPv6(body)
	default:
		return unclassifiedFrame("a frame of EtherType %s, %d bytes", etherTypeName(etherType), len(data))
	}
	if bad != "" {
		return unclassifiedFrame("%s, %d bytes", bad, len(data))
	}
	if ip.fragment != "" {
		return unclassifiedFrame("%s: its bytes cannot be filed under a flow", ip.fragment)
	}
	if trailer := body[min(len(body), ip.end):]; !allZero(trailer) {
		return unclassifiedFrame("%d bytes after the IP datagram %s → %s", len(trailer), ip.src, ip.dst)
	}
	return ip.decodeTransport()
}

// decodeARP accepts ARP for IPv4 over Ethernet, the only kind a Linux
// node answers on an Ethernet link, with nothing after it but padding.
// Other sizes of addresses would be room for anything.
func decodeARP(b []byte, frameLen int) decodedFrame {
	const arpLen = 8 + 2*6 + 2*4
	if len(b) < arpLen || binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != etherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return unclassifiedFrame("a frame of EtherType ARP (0x0806), %d bytes, that is not ARP for IPv4 over Ethernet", frameLen)
	}
	if after := b[arpLen:]; !allZero(after) {
		return unclassifiedFrame("an ARP frame with %d bytes after it", len(after))
	}
	return decodedFrame{kind: frameControl}
}

// ipDatagram is an IP header read, up to its transport.
type ipDatagram struct {
	src, dst netip.Addr
	// fragment says which fragment it is, if it is one.
	fragment string
	// end is where the datagram ends, by its own length, in the Ethernet
	// payload (it may be past the frame's end: then it was cut short).
	end int
	// protocol and transport are the transport's, after any IPv6
	// extension headers: transport runs to the datagram's end, or the
	// frame's.
	protocol  uint8
	transport []byte
	// ipv4 is true for IPv4 (where IGMP lives).
	ipv4 bool
}

// decodeIPv4 reads an IPv4 header; bad says why it cannot.
func decodeIPv4(b []byte) (ip ipDatagram, bad string) {
	if len(b) < ipv4HeaderLen {
		return ip, "an IPv4 header cut short"
	}
	ip.ipv4 = true
	ip.src, _ = netip.AddrFromSlice(b[12:16])
	ip.dst, _ = netip.AddrFromSlice(b[16:20])
	headerLen := int(b[0]&0x0f) * 4
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if length == 0 {
		// A GSO frame of up to 64 KB may carry 0 for its length: the
		// datagram is the whole frame. Past 64 KB (BIG TCP) it is not
		// read.
		if len(b) > 0xffff {
			return ip, fmt.Sprintf("an IPv4 datagram %s → %s of length 0 over 64 KB", ip.src, ip.dst)
		}
		length = len(b)
	}
	switch {
	case length < ipv4HeaderLen, headerLen < ipv4HeaderLen, headerLen > length, headerLen > len(b):
		return ip, fmt.Sprintf("an IPv4 datagram %s → %s whose header does not decode (header length %d, total length %d)", ip.src, ip.dst, headerLen, length)
	}
	if why := ipv4Options(b[ipv4HeaderLen:headerLen]); why != "" {
		return ip, fmt.Sprintf("an IPv4 datagram %s → %s with %s", ip.src, ip.dst, why)
	}
	ip.protocol = b[9]
	flagsOffset := binary.BigEndian.Uint16(b[6:8])
	if moreFragments, offset := flagsOffset&0x2000 != 0, flagsOffset&0x1fff; moreFragments || offset != 0 {
		ip.fragment = fmt.Sprintf("an IPv4 fragment %s → %s (protocol %s, offset %d)", ip.src, ip.dst, protocolName(ip.protocol), int(offset)*8)
	}
	ip.end = length
	ip.transport = b[headerLen:min(length, len(b))]
	return ip, ""
}

// ipv4Options reads a header's options. Only those that carry nothing of
// a sender's choosing pass: no operation, end of options (zeros after
// it), router alert (IGMP's). Any other could carry 38 bytes that no
// claim would look at, and an unprivileged socket may set them
// (IP_OPTIONS, a record route's "addresses"). why says what is there.
func ipv4Options(opts []byte) (why string) {
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of options
			if !allZero(opts[1:]) {
				return "bytes after its options' end"
			}
			return ""
		case 1: // no operation
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) > len(opts) || opts[1] <= 2 {
			return fmt.Sprintf("an IPv4 option %d that does not decode", opts[0])
		}
		if opts[0] != ipv4RouterAlert || opts[1] != 4 || opts[2] != 0 || opts[3] != 0 {
			return fmt.Sprintf("an IPv4 option %d of %d bytes, which the capture does not read", opts[0], opts[1])
		}
		opts = opts[opts[1]:]
	}
	return ""
}

// decodeIPv6 reads an IPv6 header and its extension headers (hop-by-hop,
// destination options) up to the transport; a fragment header makes it a
// fragment.
func decodeIPv6(b []byte) (ip ipDatagram, bad string) {
	if len(b) < ipv6HeaderLen {
		return ip, "an IPv6 header cut short"
	}
	ip.src, _ = netip.AddrFromSlice(b[8:24])
	ip.dst, _ = netip.AddrFromSlice(b[24:40])
	length := int(binary.BigEndian.Uint16(b[4:6]))
	next := b[6]
	header := func(why string, args ...any) (ipDatagram, string) {
		return ip, fmt.Sprintf("an IPv6 datagram %s → %s whose headers do not decode (%s)", ip.src, ip.dst, fmt.Sprintf(why, args...))
	}
	off := ipv6HeaderLen
	if next == protoHopByHop {
		hbhLen, jumbo, why := ipv6Options(b[off:], true)
		switch {
		case why != "":
			return header("hop-by-hop: %s", why)
		case jumbo > 0 && length != 0:
			return header("a jumbo length and a length of %d", length)
		case jumbo > 0:
			length = jumbo
		case length == 0:
			return header("length 0 without a jumbo option")
		}
		next, off = b[off], off+hbhLen
	} else if length == 0 {
		return header("length 0 without a hop-by-hop header")
	}
	ip.end = ipv6HeaderLen + length
	datagram := b[:min(len(b), ip.end)]
	for {
		if off > len(datagram) {
			return header("extension headers past its end")
		}
		rest := datagram[off:]
		switch next {
		case protoHopByHop, protoDestination:
			n, _, why := ipv6Options(rest, false)
			if why != "" {
				return header("%s: %s", protocolName(next), why)
			}
			next, off = rest[0], off+n
			continue
		case protoRouting:
			// Its addresses could be anything; Linux drops type 0, and
			// the others carry no payload of their own.
			return ip, fmt.Sprintf("an IPv6 datagram %s → %s with a routing header, which the capture does not read", ip.src, ip.dst)
		case protoFragment:
			ip.fragment = fmt.Sprintf("an IPv6 fragment %s → %s", ip.src, ip.dst)
		}
		ip.protocol, ip.transport = next, rest
		return ip, ""
	}
}

// ipv6ExtensionLen is an extension header's length from its first two
// bytes; 0 if they are not there.
func ipv6ExtensionLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	return (int(b[1]) + 1) * 8
}

// ipv6Options reads a hop-by-hop or destination options header: its
// length, the jumbo length if it carries one (first: it is the
// hop-by-hop header that follows the IPv6 header, where a jumbo length
// counts), or why it does not decode. Every option must lie within the
// header, and carry nothing of a sender's choosing: padding (zeros), a
// router alert (MLD's), a jumbo length. Any other could carry up to 2 KB
// that no claim would look at.
func ipv6Options(b []byte, first bool) (n, jumbo int, why string) {
	n = ipv6ExtensionLen(b)
	if n == 0 || n > len(b) {
		return 0, 0, "cut short"
	}
	sawJumbo := false
	for off := 2; off < n; {
		if b[off] == 0 { // Pad1
			off++
			continue
		}
		if off+2 > n || off+2+int(b[off+1]) > n {
			return 0, 0, fmt.Sprintf("option %d runs past the header", b[off])
		}
		typ, data := b[off], b[off+2:off+2+int(b[off+1])]
		switch {
		case typ == ipv6PadN && allZero(data):
		case typ == ipv6RouterAlert && len(data) == 2 && allZero(data):
		case typ == ipv6JumboOption && first && !sawJumbo:
			sawJumbo = true
			if len(data) != 4 {
				return 0, 0, "a jumbo option not of 4 bytes"
			}
			if jumbo = int(binary.BigEndian.Uint32(data)); jumbo <= 0xffff {
				return 0, 0, fmt.Sprintf("a jumbo length of %d", jumbo)
			}
		default:
			return 0, 0, fmt.Sprintf("option %d of %d bytes, which the capture does not read", typ, len(data))
		}
		off += 2 + len(data)
	}
	return n, jumbo, ""
}

// decodeTransport reads what the datagram carries.
func (ip ipDatagram) decodeTransport() decodedFrame {
	b := ip.transport
	switch ip.protocol {
	case protoIGMP:
		if ip.ipv4 {
			// Multicast membership (the bridge's own reports among
			// them): nobody's payload, if it names only the kernel's
			// own groups.
			if why := igmpMembership(b); why != "" {
				return unclassifiedFrame("an IGMP message %s → %s %s", ip.src, ip.dst, why)
			}
			return decodedFrame{kind: frameControl}
		}
	case protoTCP:
		if len(b) < 20 {
			return ip.badTransport("TCP", "%d bytes", len(b))
		}
		headerLen := int(b[12]>>4) * 4
		if headerLen < 20 || headerLen > len(b) {
			return ip.badTransport("TCP", "data offset %d in %d bytes", headerLen, len(b))
		}
		// The options are not read: whatever they hold, the payload
		// starts at the data offset (the kernel stops at an option it
		// cannot read and delivers the payload all the same).
		flags := b[13]
		return decodedFrame{kind: frameTCP, proto: "tcp", from: ip.srcPort(b[0:2]), to: ip.dstPort(b[2:4]),
			seq: binary.BigEndian.Uint32(b[4:8]), syn: flags&0x02 != 0, ack: flags&0x10 != 0, payload: b[headerLen:]}
	case protoUDP:
		if len(b) < 8 {
			return ip.badTransport("UDP", "%d bytes", len(b))
		}
		end := len(b)
		switch length := int(binary.BigEndian.Uint16(b[4:6])); {
		case length == 0: // a jumbogram's: the rest of the datagram
		case length < 8:
			return ip.badTransport("UDP", "length %d", length)
		case length < len(b):
			// The kernel delivers the datagram's stated length; what is
			// after it crossed all the same.
			if !allZero(b[length:]) {
				return unclassifiedFrame("%d bytes after the UDP datagram %s → %s", len(b)-length, ip.src, ip.dst)
			}
			end = length
		}
		return decodedFrame{kind: frameUDP, proto: "udp", from: ip.srcPort(b[0:2]), to: ip.dstPort(b[2:4]), payload: b[8:end]}
	case protoICMP:
		if len(b) < 8 {
			return ip.badTransport("ICMP", "%d bytes", len(b))
		}
		switch typ := b[0]; typ {
		case 0, 8: // echo reply, echo request
			return ip.echo("icmp", b, typ == 8)
		case 3, 4, 5, 11, 12: // destination unreachable, source quench, redirect, time exceeded, parameter problem
			// An error quotes a datagram that crossed itself, judged there.
			return decodedFrame{kind: frameControl}
		}
		return unclassifiedFrame("an ICMP message %s → %s of type %d, code %d", ip.src, ip.dst, b[0], b[1])
	case protoICMPv6:
		if len(b) < 4 {
			return ip.badTransport("ICMPv6", "%d bytes", len(b))
		}
		switch typ := b[0]; {
		case typ == 128 || typ == 129: // echo request, echo reply
			if len(b) < 8 {
				return unclassifiedFrame("an ICMPv6 echo %s → %s that does not decode", ip.src, ip.dst)
			}
			return ip.echo("icmpv6", b, typ == 128)
		case typ == 131 || typ == 132 || typ == 143: // multicast listener report, done
			if why := mldMembership(b); why != "" {
				return unclassifiedFrame("an MLD message %s → %s %s", ip.src, ip.dst, why)
			}
			return decodedFrame{kind: frameControl}
		case typ < 128, // errors, quoting what crossed itself
			typ == 130,               // multicast listener query
			typ >= 133 && typ <= 137: // neighbour discovery
			return decodedFrame{kind: frameControl}
		}
		return unclassifiedFrame("an ICMPv6 message %s → %s of type %d, code %d", ip.src, ip.dst, b[0], b[1])
	}
	return unclassifiedFrame("an IP datagram %s → %s of protocol %s, %d bytes", ip.src, ip.dst, protocolName(ip.protocol), len(b))
}

// Membership reports name groups and sources that any process chooses
// (IPV6_JOIN_GROUP, IP_ADD_SOURCE_MEMBERSHIP: no privilege needed), so
// the kernel sends up to 16 bytes of its choosing a group, in clear: a
// report is nobody's payload only if it names no source and no group
// but those the kernel joins by itself.

// igmpMembership reads an IGMP message; why says what it carries that
// is not the kernel's own. Queries come from a multicast router.
func igmpMembership(b []byte) (why string) {
	if len(b) < 8 {
		return fmt.Sprintf("of %d bytes", len(b))
	}
	switch b[0] {
	case 0x11: // membership query
		return ""
	case 0x12, 0x16, 0x17: // v1 and v2 report, leave
		if !kernelGroup4(b[4:8]) || !allZero(b[8:]) {
			return fmt.Sprintf("of type 0x%02x for a group the kernel does not join by itself (%s)", b[0], netip.AddrFrom4([4]byte(b[4:8])))
		}
		return ""
	case 0x22: // v3 report
		return groupRecords(b, 4, kernelGroup4)
	}
	return fmt.Sprintf("of type 0x%02x", b[0])
}

// mldMembership reads an MLD report or done message (ICMPv6); why says
// what it carries that is not the kernel's own.
func mldMembership(b []byte) (why string) {
	if b[0] == 143 { // v2 report
		if len(b) < 8 {
			return fmt.Sprintf("of %d bytes", len(b))
		}
		return groupRecords(b, 16, kernelGroup6)
	}
	if len(b) < 24 || !kernelGroup6(b[8:24]) || !allZero(b[24:]) {
		return fmt.Sprintf("of type %d for a group the kernel does not join by itself", b[0])
	}
	return ""
}

// groupRecords reads the group records of an IGMPv3 or MLDv2 report
// (their count at bytes 6-7, the records from byte 8: type, auxiliary
// length, number of sources, group, sources, auxiliary data).
func groupRecords(b []byte, addrLen int, kernelGroup func([]byte) bool) (why string) {
	records := int(binary.BigEndian.Uint16(b[6:8]))
	off := 8
	for i := 0; i < records; i++ {
		if off+4+addrLen > len(b) {
			return "whose group records run past it"
		}
		aux, sources, group := b[off+1], binary.BigEndian.Uint16(b[off+2:off+4]), b[off+4:off+4+addrLen]
		if aux != 0 || sources != 0 {
			return fmt.Sprintf("naming %d source(s) and %d bytes of auxiliary data, which the capture does not read", sources, int(aux)*4)
		}
		if !kernelGroup(group) {
			a, _ := netip.AddrFromSlice(group)
			return fmt.Sprintf("for a group the kernel does not join by itself (%s)", a)
		}
		off += 4 + addrLen
	}
	if !allZero(b[off:]) {
		return fmt.Sprintf("with %d bytes after its group records", len(b)-off)
	}
	return ""
}

// kernelGroup4 is a group the kernel joins by itself: all hosts, all
// routers, IGMPv3's reports, all snoopers (multicast router discovery).
func kernelGroup4(g []byte) bool {
	return g[0] == 224 && g[1] == 0 && g[2] == 0 && (g[3] == 1 || g[3] == 2 || g[3] == 22 || g[3] == 106)
}

// kernelGroup6 is a group the kernel joins by itself: link-local all
// nodes, all routers, MLDv2's reports, all snoopers, and the
// solicited-node group of
// each of its addresses (ff02::1:ffXX:XXXX, its low bytes those of an
// address, which only root adds).
func kernelGroup6(g []byte) bool {
	prefix := [13]byte{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff}
	if [13]byte(g[:13]) == prefix {
		return true
	}
	return [14]byte(g[:14]) == [14]byte{0xff, 0x02} && g[14] == 0 && (g[15] == 1 || g[15] == 2 || g[15] == 0x16 || g[15] == 0x6a)
}

func (ip ipDatagram) badTransport(proto, why string, args ...any) decodedFrame {
	return unclassifiedFrame("a %s header %s → %s that does not decode (%s)", proto, ip.src, ip.dst, fmt.Sprintf(why, args...))
}

func (ip ipDatagram) srcPort(b []byte) netip.AddrPort {
	return netip.AddrPortFrom(ip.src, binary.BigEndian.Uint16(b))
}

func (ip ipDatagram) dstPort(b []byte) netip.AddrPort {
	return netip.AddrPortFrom(ip.dst, binary.BigEndian.Uint16(b))
}

// echo is an echo request or reply: type, code, checksum, identifier,
// sequence number, then the payload. The identifier stands for both ends'
// ports.
func (ip ipDatagram) echo(proto string, b []byte, request bool) decodedFrame {
	return decodedFrame{kind: frameEcho, proto: proto, from: ip.srcPort(b[4:6]), to: ip.dstPort(b[4:6]), request: request, payload: b[8:]}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// etherTypeName names the EtherTypes a frame is likeliest to have.
func etherTypeName(t uint16) string {
	var name string
	switch {
	case t < 0x0600:
		return fmt.Sprintf("none (an 802.3 length, %d)", t)
	case t == etherTypeIPv4:
		name = "IPv4"
	case t == etherTypeARP:
		name = "ARP"
	case t == etherTypeIPv6:
		name = "IPv6"
	case t == 0x8100:
		name = "802.1Q VLAN"
	case t == 0x88a8:
		name = "802.1ad VLAN"
	case t == 0x8847, t == 0x8848:
		name = "MPLS"
	case t == 0x8863, t == 0x8864:
		name = "PPPoE"
	case t == 0x6558:
		name = "transparent Ethernet bridging"
	case t == 0x88cc:
		name = "LLDP"
	default:
		return fmt.Sprintf("0x%04x", t)
	}
	return fmt.Sprintf("%s (0x%04x)", name, t)
}

// protocolName names an IP protocol number.
func protocolName(p uint8) string {
	names := map[uint8]string{
		protoHopByHop: "IPv6 hop-by-hop options", protoICMP: "ICMP", protoIGMP: "IGMP", 4: "IPv4 (IP in IP)",
		protoTCP: "TCP", protoUDP: "UDP", 41: "IPv6 (in IP)", protoRouting: "IPv6 routing",
		protoFragment: "IPv6 fragment", 47: "GRE", 50: "ESP", 51: "AH", protoICMPv6: "ICMPv6",
		59: "IPv6 no next header", protoDestination: "IPv6 destination options", 89: "OSPF",
		94: "IPIP", 97: "EtherIP", 112: "VRRP", 132: "SCTP", 136: "UDP-Lite", 137: "MPLS in IP",
	}
	if name, ok := names[p]; ok {
		return fmt.Sprintf("%s (%d)", name, p)
	}
	return fmt.Sprintf("%d", p)
}
