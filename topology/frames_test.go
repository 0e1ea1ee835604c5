package topology

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// gopacket is the decoder's oracle: every frame the tests build, fuzz or
// capture is decoded by both, and the results must agree.
//
// gopacketDecodeRaw is the wire evidence's decode as it was with gopacket
// (one whole-packet decode, layers looked up by type), returning what it
// filed. gopacketDecode is the same with the decoder's deliberate
// differences applied, each where gopacket's own layers show the case
// (the list is differences, below, with a frame for each in
// TestDecoderDiffersFromGopacketOnlyOnTheSafeSide). Each difference
// leaves a frame unclassified where gopacket filed it, or files more of
// its bytes: never fewer.

// sameDecode says whether two decodes file a frame alike: two
// unclassified frames are alike whatever the words for them (either fails
// an encrypted claim and gives a plaintext claim no byte).
func sameDecode(a, b decodedFrame) bool {
	if a.kind == frameUnclassified && b.kind == frameUnclassified {
		return true
	}
	return a.kind == b.kind && a.proto == b.proto && a.from == b.from && a.to == b.to && a.seq == b.seq &&
		a.syn == b.syn && a.ack == b.ack && a.request == b.request && bytes.Equal(a.payload, b.payload)
}

func (d decodedFrame) String() string {
	switch d.kind {
	case frameUnclassified:
		return "unclassified: " + d.why
	case frameControl:
		return "control"
	}
	return fmt.Sprintf("%s %s → %s seq %d syn %v ack %v request %v payload %q", d.proto, d.from, d.to, d.seq, d.syn, d.ack, d.request, d.payload)
}

func addrOf(ip []byte) netip.Addr {
	if v4 := ip; len(v4) == 4 {
		a, _ := netip.AddrFromSlice(v4)
		return a
	}
	a, _ := netip.AddrFromSlice(ip)
	return a
}

func newPacket(data []byte) gopacket.Packet {
	return gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
}

// gopacketDecodeRaw is the decode the wire evidence did with gopacket,
// kept as it was but for returning what it filed.
func gopacketDecodeRaw(data []byte) decodedFrame {
	p := newPacket(data)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth == nil {
		return unclassifiedFrame("a frame of %d bytes that does not decode as Ethernet", len(data))
	}
	if arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		if len(arp.Payload) > 0 && !allZero(arp.Payload) {
			return unclassifiedFrame("an ARP frame with %d bytes after it", len(arp.Payload))
		}
		return decodedFrame{kind: frameControl}
	}
	var src, dst netip.Addr
	var l4 []byte
	var proto string
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			return unclassifiedFrame("an IPv4 fragment %s → %s (protocol %s, offset %d)", src, dst, ip.Protocol, ip.FragOffset*8)
		}
		l4, proto = ip.Payload, ip.Protocol.String()
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		if p.Layer(layers.LayerTypeIPv6Fragment) != nil {
			return unclassifiedFrame("an IPv6 fragment %s → %s", src, dst)
		}
		l4, proto = ip.Payload, ip.NextHeader.String()
	default:
		return unclassifiedFrame("a frame of EtherType %s (0x%04x), %d bytes", eth.EthernetType, uint16(eth.EthernetType), len(data))
	}
	if trailer := eth.Payload[min(len(eth.Payload), rawIPEnd(p)):]; !allZero(trailer) {
		return unclassifiedFrame("%d bytes after the IP datagram %s → %s", len(trailer), src, dst)
	}
	switch {
	case proto == layers.IPProtocolIGMP.String():
		return decodedFrame{kind: frameControl}
	case p.Layer(layers.LayerTypeTCP) != nil:
		tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		return decodedFrame{kind: frameTCP, proto: "tcp", from: netip.AddrPortFrom(src, uint16(tcp.SrcPort)), to: netip.AddrPortFrom(dst, uint16(tcp.DstPort)),
			seq: tcp.Seq, syn: tcp.SYN, ack: tcp.ACK, payload: tcp.Payload}
	case p.Layer(layers.LayerTypeUDP) != nil:
		udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		return decodedFrame{kind: frameUDP, proto: "udp", from: netip.AddrPortFrom(src, uint16(udp.SrcPort)), to: netip.AddrPortFrom(dst, uint16(udp.DstPort)), payload: udp.Payload}
	case p.Layer(layers.LayerTypeICMPv4) != nil:
		icmp := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		switch icmp.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply:
			return decodedFrame{kind: frameEcho, proto: "icmp", from: netip.AddrPortFrom(src, icmp.Id), to: netip.AddrPortFrom(dst, icmp.Id),
				request: icmp.TypeCode.Type() == layers.ICMPv4TypeEchoRequest, payload: icmp.Payload}
		case layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4TypeSourceQuench, layers.ICMPv4TypeRedirect,
			layers.ICMPv4TypeTimeExceeded, layers.ICMPv4TypeParameterProblem:
			return decodedFrame{kind: frameControl}
		}
		return unclassifiedFrame("an ICMP message %s → %s of type %s", src, dst, icmp.TypeCode)
	case p.Layer(layers.LayerTypeICMPv6) != nil:
		icmp := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		switch t := icmp.TypeCode.Type(); {
		case t == layers.ICMPv6TypeEchoRequest || t == layers.ICMPv6TypeEchoReply:
			echo, ok := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
			if !ok {
				return unclassifiedFrame("an ICMPv6 echo %s → %s that does not decode", src, dst)
			}
			return decodedFrame{kind: frameEcho, proto: "icmpv6", from: netip.AddrPortFrom(src, echo.Identifier), to: netip.AddrPortFrom(dst, echo.Identifier),
				request: t == layers.ICMPv6TypeEchoRequest, payload: echo.Payload}
		case t < 128, t == 130, t == 131, t == 132, t == 143,
			t >= layers.ICMPv6TypeRouterSolicitation && t <= layers.ICMPv6TypeRedirect:
			return decodedFrame{kind: frameControl}
		}
		return unclassifiedFrame("an ICMPv6 message %s → %s of type %s", src, dst, icmp.TypeCode)
	}
	return unclassifiedFrame("an IP datagram %s → %s of protocol %s, %d bytes", src, dst, proto, len(l4))
}

func rawIPEnd(p gopacket.Packet) int {
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		return int(ip.Length)
	case *layers.IPv6:
		if ip.Length == 0 {
			return len(ip.Contents) + len(ip.Payload)
		}
		return 40 + int(ip.Length)
	}
	return 0
}

// differences are where the decoder parts from gopacketDecodeRaw, on
// purpose. For each: what gopacket did, and which way each claim goes
// now. "encrypted" fails on any unclassified frame; "plaintext" looks
// for the bytes sent in the flows filed.
var differences = map[string]string{
	"encapsulated": "a frame whose EtherType is not ARP, IPv4 or IPv6 (a VLAN tag, LLC/SNAP, PPPoE, MPLS, " +
		"Ethernet in Ethernet): gopacket decodes inside and filed what it found (an ARP within a VLAN as " +
		"control, a TCP segment as a flow, while a trailer after the inner datagram went unchecked); the " +
		"decoder leaves it unclassified. encrypted: fails; plaintext: sees none of it",
	"one chain": "a transport inside another (IP in IP, IPv6 in IPv4, GRE, AH, an IPv4 datagram with IPv6 " +
		"extension headers, and UDP to or from the ports gopacket decodes further: VXLAN 4789, Geneve " +
		"6081, GTP 2152): gopacket filed the innermost TCP, UDP, ICMP or ARP it found (anything else in " +
		"the datagram, an inner trailer, the outer datagram's bytes, unchecked: a UDP datagram to port 4789 " +
		"from an unprivileged socket hid any bytes that way). The decoder files the outer UDP datagram, " +
		"all of its bytes, and leaves any other tunnel unclassified. encrypted: fails (the outer datagram " +
		"is nobody's the scenario trusts, or unclassified); plaintext: sees the outer UDP datagram's bytes",
	"header": "an IP header that does not decode (a header length under 20 or past the datagram, a total " +
		"length under 20, a malformed IPv4 option, an IPv6 length of 0 without a jumbo option, a hop-by-hop " +
		"or destination option that runs past its header): gopacket kept the fields it read, and took IGMP " +
		"as control whatever followed. The decoder leaves it unclassified. encrypted: fails; plaintext: sees none of it",
	"transport header": "a TCP segment of under 20 bytes or with a data offset under 20 or past the datagram, " +
		"a UDP datagram of under 8 bytes or with a length of 1 to 7: gopacket filed it with no payload " +
		"(hiding every byte of the datagram). The decoder leaves it unclassified. encrypted: fails; " +
		"plaintext: sees none of it",
	"after the UDP datagram": "bytes after a UDP datagram's stated length, inside the IP datagram, not all " +
		"zero: gopacket filed the datagram without them. The decoder leaves the frame unclassified. " +
		"encrypted: fails; plaintext: sees none of it",
	"ICMPv6 echo payload": "an ICMPv6 echo request or reply: gopacket's echo layer keeps no payload, so " +
		"every echo was filed empty (ping -6 -p hid its pattern). The decoder files the bytes after the " +
		"identifier and sequence number, as for ICMP. encrypted: judged like any flow; plaintext: sees them",
	"hop-by-hop end": "an IPv6 datagram with a hop-by-hop header: gopacket read the transport past the " +
		"datagram's stated end (zero bytes there passed the trailer check and became payload, or a header " +
		"read from them). The decoder reads to the datagram's end. encrypted and plaintext: the same bytes, " +
		"without the zeros; a transport that does not fit before the end is unclassified",
	"IGMP over IPv6": "next header 2 (IGMP) in IPv6: gopacket took it as control. IGMP is IPv4's (IPv6 has " +
		"MLD, in ICMPv6): the decoder leaves it unclassified. encrypted: fails; plaintext: unchanged",
	"membership": "an IGMP or MLD report (or leave, done) that names a source, or a group the kernel does " +
		"not join by itself (solicited-node, all nodes, all routers, the reports' own), or carries bytes " +
		"after its records: gopacket took it as control, and any process picks its groups and sources " +
		"(IPV6_JOIN_GROUP on ff05::6865:6c6c:6f0a sends \"hello\\n\" in clear). The decoder leaves it " +
		"unclassified. encrypted: fails; plaintext: unchanged",
	"ARP kinds": "ARP that is not for IPv4 over Ethernet (other address sizes: up to 1020 bytes of " +
		"\"addresses\" were control): the decoder leaves it unclassified. encrypted: fails; plaintext: unchanged",
	"IP options": "an IPv4 option other than no operation, end of options (with zeros after it) or router " +
		"alert, or an IPv6 hop-by-hop or destination option other than padding (zeros), router alert or a " +
		"jumbo length: gopacket read past them, and no claim looked at their bytes (an unprivileged socket " +
		"sets a record route option of 36 bytes of \"addresses\" with IP_OPTIONS). The decoder leaves the " +
		"frame unclassified. encrypted: fails; plaintext: sees none of it",
	"routing header": "an IPv6 routing header: gopacket read the transport after one of type 0 (which Linux " +
		"drops) and nothing after the others; its addresses could be anything. The decoder leaves every " +
		"one unclassified. encrypted: fails; plaintext: sees none of it",
	"BIG TCP": "an IPv4 datagram over 64 KB with length 0 (BIG TCP): gopacket wrapped its length at 64 KB and " +
		"filed the first part (the rest, if all zero, or found it a trailer). The decoder leaves it " +
		"unclassified. encrypted: fails; plaintext: sees none of it",
}

// gopacketDecode is gopacketDecodeRaw with the differences applied: each
// header is gopacket's reading of it (a layer of the whole-packet decode,
// or gopacket's decoder for that layer run on its bytes); which bytes
// are the transport's is the decoder's rule, checked against where
// gopacket put them. err is set when the two disagree on that.
func gopacketDecode(data []byte) (d decodedFrame, err error) {
	p := newPacket(data)
	ls := p.Layers()
	layer := func(i int) gopacket.Layer {
		if i < len(ls) {
			return ls[i]
		}
		return nil
	}
	eth, _ := layer(0).(*layers.Ethernet)
	if eth == nil {
		return unclassifiedFrame("not Ethernet"), nil
	}
	var src, dst netip.Addr
	var proto layers.IPProtocol
	var l4 []byte // the transport's bytes: from its header to the datagram's end
	var transportAt gopacket.Layer
	chainEnd := 0 // where gopacket's transport layer should end (0: unknown)
	switch binary.BigEndian.Uint16(data[12:14]) {
	case uint16(layers.EthernetTypeARP):
		arp, _ := layer(1).(*layers.ARP)
		switch {
		case arp == nil:
			return unclassifiedFrame("ARP that does not decode"), nil
		// (gopacket keeps the hardware type in 8 bits: 0x0101 reads as
		// Ethernet. The frame's own 16 are read here.)
		case binary.BigEndian.Uint16(eth.Payload[0:2]) != 1 || arp.Protocol != layers.EthernetTypeIPv4 || arp.HwAddressSize != 6 || arp.ProtAddressSize != 4:
			return unclassifiedFrame("ARP kinds"), nil
		case !allZero(arp.Payload):
			return unclassifiedFrame("ARP trailer"), nil
		}
		return decodedFrame{kind: frameControl}, nil
	case uint16(layers.EthernetTypeIPv4):
		ip, _ := layer(1).(*layers.IPv4)
		var fresh layers.IPv4
		if ip == nil || fresh.DecodeFromBytes(eth.Payload, gopacket.NilDecodeFeedback) != nil {
			return unclassifiedFrame("header"), nil
		}
		if !plainIPv4Options(ip) {
			return unclassifiedFrame("IP options"), nil
		}
		if binary.BigEndian.Uint16(eth.Payload[2:4]) == 0 && len(eth.Payload) > 0xffff {
			return unclassifiedFrame("BIG TCP"), nil
		}
		src, dst = addrOf(ip.SrcIP), addrOf(ip.DstIP)
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			return unclassifiedFrame("fragment"), nil
		}
		if trailer := eth.Payload[min(len(eth.Payload), int(ip.Length)):]; !allZero(trailer) {
			return unclassifiedFrame("trailer"), nil
		}
		if ip.Protocol == layers.IPProtocolIGMP {
			if igmpMembership(ip.Payload) != "" {
				return unclassifiedFrame("membership"), nil
			}
			return decodedFrame{kind: frameControl}, nil
		}
		proto, l4, transportAt = ip.Protocol, ip.Payload, layer(2)
		chainEnd = min(len(eth.Payload), int(ip.Length))
	case uint16(layers.EthernetTypeIPv6):
		ip, _ := layer(1).(*layers.IPv6)
		var fresh layers.IPv6
		if ip == nil || fresh.DecodeFromBytes(eth.Payload, gopacket.NilDecodeFeedback) != nil {
			return unclassifiedFrame("header"), nil
		}
		src, dst = addrOf(ip.SrcIP), addrOf(ip.DstIP)
		end := rawIPEnd(p)
		// The extension headers after the first are read within the
		// datagram (gopacket reads them to the frame's end after a
		// hop-by-hop header).
		datagram := eth.Payload[:min(len(eth.Payload), end)]
		nf := gopacket.NilDecodeFeedback
		off, next, i := 40, ip.NextHeader, 2
		if ip.HopByHop != nil {
			if !plainIPv6Options(true, len(ip.HopByHop.Options), func(j int) (uint8, []byte) {
				return ip.HopByHop.Options[j].OptionType, ip.HopByHop.Options[j].OptionData
			}) {
				return unclassifiedFrame("IP options"), nil
			}
			if !optionsWithin(ip.HopByHop.ActualLength, len(ip.HopByHop.Options), func(j int) int { return ip.HopByHop.Options[j].ActualLength }) {
				return unclassifiedFrame("header"), nil
			}
			off, next, i = off+ip.HopByHop.ActualLength, ip.HopByHop.NextHeader, 3
		} else {
			chainEnd = min(len(eth.Payload), end)
		}
	chain:
		for ; ; i++ {
			if off > len(datagram) {
				return unclassifiedFrame("hop-by-hop end"), nil
			}
			var n int
			switch next {
			case layers.IPProtocolIPv6HopByHop:
				var h layers.IPv6HopByHop
				if h.DecodeFromBytes(datagram[off:], nf) != nil || !optionsWithin(h.ActualLength, len(h.Options), func(j int) int { return h.Options[j].ActualLength }) {
					return unclassifiedFrame("header"), nil
				}
				if !plainIPv6Options(false, len(h.Options), func(j int) (uint8, []byte) { return h.Options[j].OptionType, h.Options[j].OptionData }) {
					return unclassifiedFrame("IP options"), nil
				}
				n, next = h.ActualLength, h.NextHeader
			case layers.IPProtocolIPv6Destination:
				var h layers.IPv6Destination
				if h.DecodeFromBytes(datagram[off:], nf) != nil || !optionsWithin(h.ActualLength, len(h.Options), func(j int) int { return h.Options[j].ActualLength }) {
					return unclassifiedFrame("header"), nil
				}
				if !plainIPv6Options(false, len(h.Options), func(j int) (uint8, []byte) { return h.Options[j].OptionType, h.Options[j].OptionData }) {
					return unclassifiedFrame("IP options"), nil
				}
				n, next = h.ActualLength, h.NextHeader
			case layers.IPProtocolIPv6Routing:
				return unclassifiedFrame("routing header"), nil
			case layers.IPProtocolIPv6Fragment:
				return unclassifiedFrame("fragment"), nil
			default:
				break chain
			}
			off += n
		}
		if trailer := eth.Payload[min(len(eth.Payload), end):]; !allZero(trailer) {
			return unclassifiedFrame("trailer"), nil
		}
		if off > len(datagram) {
			return unclassifiedFrame("hop-by-hop end"), nil
		}
		if next == layers.IPProtocolIGMP {
			return unclassifiedFrame("IGMP over IPv6"), nil
		}
		proto, l4, transportAt = next, eth.Payload[off:min(len(eth.Payload), end)], layer(i)
	default:
		return unclassifiedFrame("encapsulated"), nil
	}
	// Where gopacket put the transport, if it decoded one: it must start
	// where l4 does and, but after a hop-by-hop header (or for UDP, which
	// trims to its own length), end where l4 does.
	if transportAt != nil && len(transportAt.LayerContents()) > 0 && transportAt.LayerType() != gopacket.LayerTypeDecodeFailure {
		at := cap(eth.Payload) - cap(transportAt.LayerContents())
		if want := cap(eth.Payload) - cap(l4); at != want {
			return d, fmt.Errorf("gopacket's %s starts at byte %d of the IP datagram, the oracle's transport at %d", transportAt.LayerType(), at, want)
		}
		switch transportAt.LayerType() {
		case layers.LayerTypeTCP, layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
			if end := at + len(transportAt.LayerContents()) + len(transportAt.LayerPayload()); chainEnd > 0 && end != chainEnd {
				return d, fmt.Errorf("gopacket's %s ends at byte %d of the IP datagram, the datagram at %d", transportAt.LayerType(), end, chainEnd)
			}
		}
	}
	return gopacketTransport(proto, l4, src, dst), nil
}

// plainIPv4Options says whether gopacket's reading of an IPv4 header's
// options holds only no operation, end of options with zeros after it,
// and router alert (value 0).
func plainIPv4Options(ip *layers.IPv4) bool {
	for _, o := range ip.Options {
		switch {
		case o.OptionType == 0:
			return allZero(ip.Padding)
		case o.OptionType == 1:
		case o.OptionType == 148 && o.OptionLength == 4 && allZero(o.OptionData):
		default:
			return false
		}
	}
	return true
}

// plainIPv6Options says whether gopacket's reading of a hop-by-hop or
// destination options header holds only padding (zeros), router alert
// (value 0) and, in the hop-by-hop header after the IPv6 header (first),
// one jumbo length (gopacket checks it).
func plainIPv6Options(first bool, n int, opt func(int) (uint8, []byte)) bool {
	jumbos := 0
	for j := range n {
		switch typ, data := opt(j); {
		case typ == 0, typ == 1 && allZero(data), typ == 5 && len(data) == 2 && allZero(data):
		case typ == 0xc2 && first && jumbos == 0:
			jumbos++
		default:
			return false
		}
	}
	return true
}

// optionsWithin says whether a hop-by-hop or destination options header's
// options, as gopacket read them (it reads past the header's end), lie
// within it.
func optionsWithin(headerLen, n int, optLen func(int) int) bool {
	end := 2
	for j := range n {
		end += optLen(j)
	}
	return end <= headerLen
}

// gopacketTransport decodes a transport with gopacket's decoder for it.
func gopacketTransport(proto layers.IPProtocol, l4 []byte, src, dst netip.Addr) decodedFrame {
	nf := gopacket.NilDecodeFeedback
	switch proto {
	case layers.IPProtocolTCP:
		var tcp layers.TCP
		// An option that does not decode is an error after gopacket has
		// set the payload, which the raw decode filed (and the kernel
		// delivers: it stops reading options there).
		if tcp.DecodeFromBytes(l4, nf) != nil && tcp.Payload == nil {
			return unclassifiedFrame("transport header")
		}
		return decodedFrame{kind: frameTCP, proto: "tcp", from: netip.AddrPortFrom(src, uint16(tcp.SrcPort)), to: netip.AddrPortFrom(dst, uint16(tcp.DstPort)),
			seq: tcp.Seq, syn: tcp.SYN, ack: tcp.ACK, payload: tcp.Payload}
	case layers.IPProtocolUDP:
		var udp layers.UDP
		if udp.DecodeFromBytes(l4, nf) != nil {
			return unclassifiedFrame("transport header")
		}
		if udp.Length >= 8 && int(udp.Length) < len(l4) && !allZero(l4[udp.Length:]) {
			return unclassifiedFrame("after the UDP datagram")
		}
		return decodedFrame{kind: frameUDP, proto: "udp", from: netip.AddrPortFrom(src, uint16(udp.SrcPort)), to: netip.AddrPortFrom(dst, uint16(udp.DstPort)), payload: udp.Payload}
	case layers.IPProtocolICMPv4:
		var icmp layers.ICMPv4
		if icmp.DecodeFromBytes(l4, nf) != nil {
			return unclassifiedFrame("transport header")
		}
		switch icmp.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply:
			return decodedFrame{kind: frameEcho, proto: "icmp", from: netip.AddrPortFrom(src, icmp.Id), to: netip.AddrPortFrom(dst, icmp.Id),
				request: icmp.TypeCode.Type() == layers.ICMPv4TypeEchoRequest, payload: icmp.Payload}
		case layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4TypeSourceQuench, layers.ICMPv4TypeRedirect,
			layers.ICMPv4TypeTimeExceeded, layers.ICMPv4TypeParameterProblem:
			return decodedFrame{kind: frameControl}
		}
		return unclassifiedFrame("ICMP type")
	case layers.IPProtocolICMPv6:
		var icmp layers.ICMPv6
		if icmp.DecodeFromBytes(l4, nf) != nil {
			return unclassifiedFrame("transport header")
		}
		switch t := icmp.TypeCode.Type(); {
		case t == layers.ICMPv6TypeEchoRequest || t == layers.ICMPv6TypeEchoReply:
			var echo layers.ICMPv6Echo
			// gopacket decodes no echo from an empty message, and keeps
			// no payload of one.
			if len(icmp.Payload) == 0 || echo.DecodeFromBytes(icmp.Payload, nf) != nil {
				return unclassifiedFrame("ICMPv6 echo")
			}
			return decodedFrame{kind: frameEcho, proto: "icmpv6", from: netip.AddrPortFrom(src, echo.Identifier), to: netip.AddrPortFrom(dst, echo.Identifier),
				request: t == layers.ICMPv6TypeEchoRequest, payload: icmp.Payload[4:]}
		case (t == 131 || t == 132 || t == 143) && mldMembership(l4) != "":
			return unclassifiedFrame("membership")
		case t < 128, t == 130, t == 131, t == 132, t == 143,
			t >= layers.ICMPv6TypeRouterSolicitation && t <= layers.ICMPv6TypeRedirect:
			return decodedFrame{kind: frameControl}
		}
		return unclassifiedFrame("ICMPv6 type")
	}
	return unclassifiedFrame("protocol")
}

// seesNoLess says whether the decoder's reading of a frame shows every
// byte that gopacket's filed: it leaves the frame unclassified, or files
// a payload that holds gopacket's (but for zeros at its end). Where
// gopacket read a UDP datagram's payload as another frame (by its port)
// and found that unclassified, the decoder files the datagram whole.
func seesNoLess(raw, got decodedFrame) bool {
	switch {
	case sameDecode(raw, got), got.kind == frameUnclassified:
		return true
	case raw.kind == frameUnclassified:
		return got.kind == frameUDP && (layers.UDPPort(got.from.Port()).LayerType() != gopacket.LayerTypePayload ||
			layers.UDPPort(got.to.Port()).LayerType() != gopacket.LayerTypePayload)
	case got.kind == frameControl:
		return raw.kind == frameControl
	}
	return bytes.Contains(got.payload, bytes.TrimRight(raw.payload, "\x00"))
}

// hidesNothing checks what the decoder files: a payload that is a slice
// of the frame after which every byte is zero.
func hidesNothing(data []byte, d decodedFrame) error {
	if d.kind != frameTCP && d.kind != frameUDP && d.kind != frameEcho {
		return nil
	}
	if d.payload == nil {
		return fmt.Errorf("%s: no payload slice", d)
	}
	at := cap(data) - cap(d.payload)
	if at < 0 || at+len(d.payload) > len(data) || (len(d.payload) > 0 && &data[at] != &d.payload[0]) {
		return fmt.Errorf("%s: the payload is not a slice of the frame", d)
	}
	if after := data[at+len(d.payload):]; !allZero(after) {
		return fmt.Errorf("%s: %d bytes after the payload, not all zero", d, len(after))
	}
	return nil
}

// checkDecode decodes one frame both ways and says what differs.
func checkDecode(data []byte) error {
	got := decodeFrame(data)
	want, err := gopacketDecode(data)
	if err != nil {
		return err
	}
	if !sameDecode(got, want) {
		return fmt.Errorf("the decoder: %s\n  gopacket (with the differences): %s", got, want)
	}
	if raw := gopacketDecodeRaw(data); !seesNoLess(raw, got) {
		return fmt.Errorf("the decoder sees less than gopacket did:\n  the decoder: %s\n  gopacket: %s", got, raw)
	}
	return hidesNothing(data, got)
}
