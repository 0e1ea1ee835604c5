package topology

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scenario-tool/scenario/flows"
)

// The decoder against gopacket: frames built with gopacket's serializer
// for every protocol and branch the decoder reads, each cut short at
// every length and with its length fields and header lengths wrong; a
// fuzz target seeded with them; and real captures (testdata/wire).

func tcpOptions() []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
}

// ext6 is an IPv6 extension header as raw bytes (gopacket cannot
// serialize a fragment or routing header): next header, length in 8-byte
// units beyond the first 8, then body (padded with zeros).
func ext6(next layers.IPProtocol, body []byte) gopacket.Payload {
	n := (len(body) + 2 + 7) / 8 * 8
	h := make([]byte, n)
	h[0], h[1] = byte(next), byte(n/8-1)
	copy(h[2:], body)
	return h
}

// builtFrames are frames of every kind the decoder reads, built with
// gopacket's serializer, by name.
func builtFrames(t testing.TB) map[string][]byte {
	const c4, s4, c6, s6 = "10.77.0.1", "10.77.0.2", "fd77::1", "fd77::2"
	e4 := func() *layers.Ethernet { return eth(macA, layers.EthernetTypeIPv4) }
	e6 := func() *layers.Ethernet { return eth(macA, layers.EthernetTypeIPv6) }
	tcp := func(flags string, opts bool) *layers.TCP {
		s := &layers.TCP{SrcPort: 40000, DstPort: 21000, Seq: 1000, Ack: 7, Window: 1000,
			SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), PSH: strings.Contains(flags, "P"),
			FIN: strings.Contains(flags, "F"), RST: strings.Contains(flags, "R")}
		if opts {
			s.Options = tcpOptions()
		}
		return s
	}
	udp := func(src, dst uint16) *layers.UDP {
		return &layers.UDP{SrcPort: layers.UDPPort(src), DstPort: layers.UDPPort(dst)}
	}
	hello := gopacket.Payload("hello over the wire\n")
	ip4opts := ip4(c4, s4, layers.IPProtocolTCP)
	ip4opts.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	frag := func(flags layers.IPv4Flag, offset uint16) *layers.IPv4 {
		ip := ip4(c4, s4, layers.IPProtocolUDP)
		ip.Flags, ip.FragOffset, ip.Id = flags, offset, 77
		return ip
	}
	icmp4 := func(typ, code uint8, id uint16) *layers.ICMPv4 {
		return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: 1}
	}
	icmp6 := func(typ, code uint8) *layers.ICMPv6 {
		return &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	}
	hopByHop := &layers.IPv6HopByHop{}
	hopByHop.NextHeader = layers.IPProtocolIPv6Destination
	hopByHop.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}} // PadN
	hbh := func(next layers.IPProtocol) gopacket.Payload {
		return ext6(next, []byte{5, 2, 0, 0, 1, 0}) // router alert, PadN
	}
	dest := func(next layers.IPProtocol) gopacket.Payload {
		return ext6(next, []byte{1, 4, 0, 0, 0, 0}) // PadN
	}
	experimental := func(next layers.IPProtocol) gopacket.Payload {
		return ext6(next, []byte{0x1e, 4, 1, 2, 3, 4})
	}
	recordRoute := ip4(c4, s4, layers.IPProtocolUDP)
	recordRoute.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 10, 77, 0, 9, 0, 0, 0, 0}}, {OptionType: 0}}
	arp := func(op uint16) *layers.ARP {
		return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: op, SourceHwAddress: macA, SourceProtAddress: []byte{10, 77, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 77, 0, 2}}
	}
	inner := func() []byte { // an Ethernet frame to carry inside another
		return build(t, eth(macX, layers.EthernetTypeIPv4), ip4("10.1.0.1", "10.1.0.2", layers.IPProtocolTCP), tcp("AP", false), hello)
	}
	jumbo := ext6(layers.IPProtocolTCP, []byte{0xc2, 4, 0, 1, 0x11, 0x70}) // jumbo length 70000

	fs := map[string][]byte{
		"tcp4 syn with options":             build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("S", true)),
		"tcp4 data":                         build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("AP", false), hello),
		"tcp4 data with options":            build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("AP", true), hello),
		"tcp4 ack":                          build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("A", false)),
		"tcp4 fin":                          build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("AF", false)),
		"tcp4 rst":                          build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("R", false)),
		"tcp4 with IP options":              build(t, e4(), ip4opts, tcp("AP", false), hello),
		"tcp4 payload of zeros":             build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("AP", false), gopacket.Payload(make([]byte, 9))),
		"udp4":                              build(t, e4(), ip4(c4, s4, layers.IPProtocolUDP), udp(8301, 8301), hello),
		"udp4 empty":                        build(t, e4(), ip4(c4, s4, layers.IPProtocolUDP), udp(5000, 6000)),
		"udp4 to vxlan's port":              build(t, e4(), ip4(c4, s4, layers.IPProtocolUDP), udp(40000, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 5}, gopacket.Payload(inner())),
		"udp4 to geneve's port":             build(t, e4(), ip4(c4, s4, layers.IPProtocolUDP), udp(40000, 6081), hello),
		"udp4 from dns's port":              build(t, e4(), ip4(c4, s4, layers.IPProtocolUDP), udp(53, 40000), hello),
		"ipv4 first fragment":               build(t, e4(), frag(layers.IPv4MoreFragments, 0), udp(1, 2), hello),
		"ipv4 middle fragment":              build(t, e4(), frag(layers.IPv4MoreFragments, 3), hello),
		"ipv4 last fragment":                build(t, e4(), frag(0, 6), hello),
		"ipv4 don't fragment":               build(t, e4(), frag(layers.IPv4DontFragment, 0), udp(1, 2), hello),
		"icmp4 echo request":                build(t, e4(), ip4(c4, s4, layers.IPProtocolICMPv4), icmp4(8, 0, 9), hello),
		"icmp4 echo reply":                  build(t, e4(), ip4(s4, c4, layers.IPProtocolICMPv4), icmp4(0, 0, 9), hello),
		"icmp4 empty echo":                  build(t, e4(), ip4(c4, s4, layers.IPProtocolICMPv4), icmp4(8, 0, 9)),
		"icmp4 port unreachable":            build(t, e4(), ip4(s4, c4, layers.IPProtocolICMPv4), icmp4(3, 3, 0), gopacket.Payload(build(t, ip4(c4, s4, layers.IPProtocolUDP), udp(1, 2), hello))),
		"icmp4 time exceeded":               build(t, e4(), ip4(s4, c4, layers.IPProtocolICMPv4), icmp4(11, 0, 0), hello),
		"icmp4 timestamp":                   build(t, e4(), ip4(c4, s4, layers.IPProtocolICMPv4), icmp4(13, 0, 1), gopacket.Payload(make([]byte, 12))),
		"igmp v3 report":                    build(t, e4(), ip4("10.77.0.1", "224.0.0.22", layers.IPProtocolIGMP), gopacket.Payload([]byte{0x22, 0, 0xf9, 0x02, 0, 0, 0, 0})),
		"gre":                               build(t, e4(), ip4(c4, s4, layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeIPv4}, ip4("10.1.0.1", "10.1.0.2", layers.IPProtocolTCP), tcp("AP", false), hello),
		"ip in ip":                          build(t, e4(), ip4(c4, s4, layers.IPProtocolIPv4), ip4("10.1.0.1", "10.1.0.2", layers.IPProtocolTCP), tcp("AP", false), hello),
		"ipv6 in ipv4":                      build(t, e4(), ip4(c4, s4, layers.IPProtocolIPv6), ip6(c6, s6, layers.IPProtocolUDP), udp(1, 2), hello),
		"sctp":                              build(t, e4(), ip4(c4, s4, layers.IPProtocolSCTP), hello),
		"arp request":                       build(t, eth(macA, layers.EthernetTypeARP), arp(layers.ARPRequest)),
		"arp reply":                         build(t, eth(macB, layers.EthernetTypeARP), arp(layers.ARPReply)),
		"arp in a vlan":                     build(t, eth(macA, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeARP}, arp(layers.ARPRequest)),
		"tcp4 in a vlan":                    build(t, eth(macA, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip4(c4, s4, layers.IPProtocolTCP), tcp("AP", false), hello),
		"tcp4 in two vlans":                 build(t, eth(macA, layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 6, Type: layers.EthernetTypeIPv4}, ip4(c4, s4, layers.IPProtocolTCP), tcp("AP", false), hello),
		"llc snap ipv4":                     build(t, eth(macA, layers.EthernetTypeLLC), &layers.LLC{DSAP: 0xaa, SSAP: 0xaa, Control: 3}, &layers.SNAP{OrganizationalCode: []byte{0, 0, 0}, Type: layers.EthernetTypeIPv4}, ip4(c4, s4, layers.IPProtocolUDP), udp(1, 2), hello),
		"ethernet in ethernet":              build(t, eth(macA, layers.EthernetTypeTransparentEthernetBridging), gopacket.Payload(inner())),
		"a private ethertype":               build(t, eth(macA, layers.EthernetType(0x88b6)), hello),
		"tcp6 syn":                          build(t, e6(), ip6(c6, s6, layers.IPProtocolTCP), tcp("S", true)),
		"tcp6 data":                         build(t, e6(), ip6(c6, s6, layers.IPProtocolTCP), tcp("AP", false), hello),
		"udp6":                              build(t, e6(), ip6(c6, s6, layers.IPProtocolUDP), udp(5000, 6000), hello),
		"icmp6 echo request":                build(t, e6(), ip6(c6, s6, layers.IPProtocolICMPv6), icmp6(128, 0), &layers.ICMPv6Echo{Identifier: 9, SeqNumber: 1}, hello),
		"icmp6 echo reply":                  build(t, e6(), ip6(s6, c6, layers.IPProtocolICMPv6), icmp6(129, 0), &layers.ICMPv6Echo{Identifier: 9, SeqNumber: 1}, hello),
		"icmp6 empty echo":                  build(t, e6(), ip6(c6, s6, layers.IPProtocolICMPv6), icmp6(128, 0), &layers.ICMPv6Echo{Identifier: 9, SeqNumber: 1}),
		"icmp6 unreachable":                 build(t, e6(), ip6(s6, c6, layers.IPProtocolICMPv6), icmp6(1, 4), gopacket.Payload(make([]byte, 4)), hello),
		"icmp6 neighbour solicit":           build(t, e6(), ip6("fe80::1", "ff02::1:ff00:2", layers.IPProtocolICMPv6), icmp6(135, 0), &layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("fe80::2")}),
		"icmp6 neighbour advert":            build(t, e6(), ip6("fe80::2", "fe80::1", layers.IPProtocolICMPv6), icmp6(136, 0), &layers.ICMPv6NeighborAdvertisement{TargetAddress: net.ParseIP("fe80::2"), Flags: 0x60}),
		"icmp6 router solicit":              build(t, e6(), ip6("fe80::1", "ff02::2", layers.IPProtocolICMPv6), icmp6(133, 0), &layers.ICMPv6RouterSolicitation{}),
		"icmp6 router advert":               build(t, e6(), ip6("fe80::9", "ff02::1", layers.IPProtocolICMPv6), icmp6(134, 0), &layers.ICMPv6RouterAdvertisement{HopLimit: 64}),
		"icmp6 node information":            build(t, e6(), ip6(c6, s6, layers.IPProtocolICMPv6), icmp6(139, 0), hello),
		"mld report after hbh":              build(t, e6(), ip6("fe80::1", "ff02::16", layers.IPProtocolIPv6HopByHop), hbh(layers.IPProtocolICMPv6), icmp6(143, 0), gopacket.Payload(make([]byte, 24))),
		"tcp6 after hbh and dest":           build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6HopByHop), hbh(layers.IPProtocolIPv6Destination), dest(layers.IPProtocolTCP), tcp("AP", true), hello),
		"tcp6 after gopacket's hbh":         build(t, e6(), &layers.IPv6{Version: 6, SrcIP: net.ParseIP(c6), DstIP: net.ParseIP(s6), HopLimit: 64, HopByHop: hopByHop}, dest(layers.IPProtocolTCP), tcp("AP", false), hello),
		"tcp6 after an experimental option": build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6Destination), experimental(layers.IPProtocolTCP), tcp("AP", false), hello),
		"tcp6 after an experimental hbh":    build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6HopByHop), experimental(layers.IPProtocolTCP), tcp("AP", false), hello),
		"udp4 with record route":            build(t, e4(), recordRoute, udp(1, 2), hello),
		"udp6 after dest":                   build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6Destination), dest(layers.IPProtocolUDP), udp(1, 2), hello),
		"udp6 fragment":                     build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6HopByHop), hbh(layers.IPProtocolIPv6Destination), dest(layers.IPProtocolIPv6Fragment), gopacket.Payload([]byte{17, 0, 0, 1, 0, 0, 0, 7}), udp(1, 2), hello),
		"ipv6 atomic fragment":              build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6Fragment), gopacket.Payload([]byte{6, 0, 0, 0, 0, 0, 0, 7}), tcp("AP", false), hello),
		"tcp6 after routing 0":              build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6Routing), ext6(layers.IPProtocolTCP, append([]byte{0, 1, 0, 0, 0, 0}, net.ParseIP(s6)...)), tcp("AP", false), hello),
		"tcp6 after routing 4":              build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6Routing), ext6(layers.IPProtocolTCP, append([]byte{4, 1, 0, 0, 0, 0}, net.ParseIP(s6)...)), tcp("AP", false), hello),
		"ipv6 no next header":               build(t, e6(), ip6(c6, s6, layers.IPProtocolNoNextHeader)),
		"igmp over ipv6":                    build(t, e6(), ip6(c6, s6, layers.IPProtocolIGMP), hello),
		"ipv6 jumbogram":                    build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6HopByHop), jumbo, tcp("AP", false), hello),
		"tcp6 after hbh, padded":            append(build(t, e6(), ip6(c6, s6, layers.IPProtocolIPv6HopByHop), hbh(layers.IPProtocolTCP), tcp("AP", false), hello), 0, 0, 0, 0),
		"tcp4, padded":                      append(build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("AP", false), hello), 0, 0, 0, 0),
		"tcp4 with a trailer":               append(build(t, e4(), ip4(c4, s4, layers.IPProtocolTCP), tcp("AP", false), hello), "hidden"...),
		"arp with a trailer":                append(build(t, eth(macA, layers.EthernetTypeARP), arp(layers.ARPRequest)), "hidden"...),
		"short":                             {1, 2, 3},
	}
	// The jumbogram's length field must be 0.
	binary.BigEndian.PutUint16(fs["ipv6 jumbogram"][14+4:], 0)
	return fs
}

// layerOffsets are where gopacket found each layer of a frame.
func layerOffsets(data []byte) map[gopacket.LayerType]int {
	offs := map[gopacket.LayerType]int{}
	for _, l := range newPacket(data).Layers() {
		if c := l.LayerContents(); len(c) > 0 {
			if _, seen := offs[l.LayerType()]; !seen {
				offs[l.LayerType()] = cap(data) - cap(c)
			}
		}
	}
	return offs
}

// mutations are a frame cut short at every length, and with its length
// fields and header lengths wrong.
func mutations(data []byte) [][]byte {
	var out [][]byte
	for n := range len(data) {
		out = append(out, data[:n:n])
	}
	set := func(f func(b []byte)) {
		b := bytes.Clone(data)
		f(b)
		out = append(out, b)
	}
	put16 := func(at int, v int) { set(func(b []byte) { binary.BigEndian.PutUint16(b[at:], uint16(v)) }) }
	out = append(out, append(bytes.Clone(data), 0, 0, 0, 0, 0, 0, 0, 0), append(bytes.Clone(data), "x"...))
	offs := layerOffsets(data)
	if at, ok := offs[layers.LayerTypeIPv4]; ok {
		real := int(binary.BigEndian.Uint16(data[at+2:]))
		for ihl := range 16 {
			set(func(b []byte) { b[at] = b[at]&0xf0 | byte(ihl) })
		}
		for _, l := range []int{0, 1, 19, 20, 21, real - 1, real + 1, real + 8, 0xffff} {
			put16(at+2, l)
		}
		for _, ff := range []int{0x2000, 0x0001, 0x4000, 0x8000} {
			put16(at+6, ff)
		}
		set(func(b []byte) { b[at] = 0x65 }) // version 6 in an IPv4 EtherType
		set(func(b []byte) { b[at+9] = 2 })  // IGMP
		set(func(b []byte) { b[at+20] = 7 }) // an option or the transport's first byte
		set(func(b []byte) { b[at+21] = 2 }) // an option's length
		set(func(b []byte) { b[at+9] = 58 }) // ICMPv6 in IPv4
		set(func(b []byte) { b[at+9] = 0 })  // a hop-by-hop header in IPv4
	}
	if at, ok := offs[layers.LayerTypeIPv6]; ok {
		real := int(binary.BigEndian.Uint16(data[at+4:]))
		for _, l := range []int{0, 1, 7, 8, real - 8, real - 1, real + 1, real + 8, 0xffff} {
			put16(at+4, l)
		}
		for _, next := range []byte{0, 2, 6, 17, 43, 44, 58, 59, 60} {
			set(func(b []byte) { b[at+6] = next })
		}
		set(func(b []byte) { b[at] = 0x45 })
		if len(data) > at+42 {
			for _, l := range []byte{0, 1, 2, 200} { // the first extension header's length
				set(func(b []byte) { b[at+41] = l })
			}
			set(func(b []byte) { b[at+42] = 0xc2 }) // a jumbo option
			set(func(b []byte) { b[at+43] = 9 })    // an option longer than its header
		}
	}
	if at, ok := offs[layers.LayerTypeTCP]; ok {
		for off := range 16 {
			set(func(b []byte) { b[at+12] = byte(off) << 4 })
		}
		set(func(b []byte) { b[at+20] = 2 }) // an option's kind, or the payload
		set(func(b []byte) { b[at+21] = 1 }) // an option's length
	}
	if at, ok := offs[layers.LayerTypeUDP]; ok {
		real := int(binary.BigEndian.Uint16(data[at+4:]))
		for _, l := range []int{0, 1, 7, 8, 9, real - 1, real + 1, 0xffff} {
			put16(at+4, l)
		}
		put16(at+2, 4789)
	}
	if at, ok := offs[layers.LayerTypeICMPv6]; ok {
		for _, typ := range []byte{0, 127, 128, 129, 130, 133, 137, 138, 143, 200} {
			set(func(b []byte) { b[at] = typ })
		}
	}
	if at, ok := offs[layers.LayerTypeICMPv4]; ok {
		for _, typ := range []byte{0, 3, 5, 8, 12, 13, 42} {
			set(func(b []byte) { b[at] = typ })
		}
	}
	if at, ok := offs[layers.LayerTypeARP]; ok {
		for _, v := range [][2]int{{0, 0x0101}, {0, 6}, {2, 0x86dd}} {
			put16(at+v[0], v[1])
		}
		for _, v := range [][2]int{{4, 5}, {4, 100}, {5, 16}, {5, 200}} {
			set(func(b []byte) { b[at+v[0]] = byte(v[1]) })
		}
	}
	for _, typ := range []int{0x0800, 0x86dd, 0x0806, 0x8100, 0x0010} {
		if len(data) >= 14 {
			put16(12, typ)
		}
	}
	return out
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestDecoderMatchesGopacketOnBuiltFrames(t *testing.T) {
	frames := builtFrames(t)
	n := 0
	for _, name := range sortedNames(frames) {
		for i, data := range append([][]byte{frames[name]}, mutations(frames[name])...) {
			n++
			if err := checkDecode(data); err != nil {
				t.Errorf("%s (variant %d, %d bytes % x): %v", name, i, len(data), data, err)
			}
		}
	}
	t.Logf("%d frames", n)
}

// Well-formed frames the capture sees every day decode as gopacket
// decoded them, but the ICMPv6 echo's payload (which it lost).
func TestDecoderFilesWellFormedFramesAsGopacketDid(t *testing.T) {
	frames := builtFrames(t)
	for _, name := range []string{"tcp4 syn with options", "tcp4 data", "tcp4 data with options", "tcp4 ack", "tcp4 fin", "tcp4 rst",
		"tcp4 with IP options", "tcp4 payload of zeros", "udp4", "udp4 empty", "udp4 from dns's port", "ipv4 first fragment", "ipv4 middle fragment",
		"ipv4 last fragment", "ipv4 don't fragment", "icmp4 echo request", "icmp4 echo reply", "icmp4 empty echo", "icmp4 port unreachable",
		"icmp4 time exceeded", "icmp4 timestamp", "igmp v3 report", "sctp", "arp request", "arp reply", "a private ethertype",
		"tcp6 syn", "tcp6 data", "udp6", "icmp6 unreachable", "icmp6 neighbour solicit", "icmp6 neighbour advert", "icmp6 router solicit",
		"icmp6 router advert", "icmp6 node information", "mld report after hbh", "tcp6 after hbh and dest", "tcp6 after gopacket's hbh",
		"udp6 after dest", "udp6 fragment", "ipv6 atomic fragment", "tcp6 after routing 4", "ipv6 no next header",
		"tcp4, padded", "tcp4 with a trailer", "arp with a trailer", "short"} {
		data := frames[name]
		if data == nil {
			t.Fatalf("no frame %q", name)
		}
		got, raw := decodeFrame(data), gopacketDecodeRaw(data)
		if !sameDecode(got, raw) {
			t.Errorf("%s:\n  the decoder: %s\n  gopacket: %s", name, got, raw)
		}
		if got.kind == frameUnclassified && (raw.why == "" || got.why == "") {
			t.Errorf("%s: unclassified without saying why", name)
		}
	}
	for _, name := range []string{"icmp6 echo request", "icmp6 echo reply"} {
		got, raw := decodeFrame(frames[name]), gopacketDecodeRaw(frames[name])
		if string(got.payload) != "hello over the wire\n" || len(raw.payload) != 0 {
			t.Errorf("%s: the decoder files %q, gopacket %q", name, got.payload, raw.payload)
		}
	}
}

func FuzzDecodeMatchesGopacket(f *testing.F) {
	frames := builtFrames(f)
	for _, name := range sortedNames(frames) {
		f.Add(frames[name])
		for i, m := range mutations(frames[name]) {
			if i%7 == 0 {
				f.Add(m)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := checkDecode(data); err != nil {
			t.Errorf("%d bytes % x: %v", len(data), data, err)
		}
	})
}

// readPcap reads a pcap file's frames with gopacket's reader.
func readPcap(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return frames
		}
		frames = append(frames, data)
	}
}

// Captures of real runs (testdata/wire/*.pcap: a wire run's frames
// between nodes, agents' gossip and RPC, the mesh's TLS, ARP, neighbour
// discovery, ping and ping -6 with a pattern).
func TestDecoderMatchesGopacketOnRealCaptures(t *testing.T) {
	paths, _ := filepath.Glob("testdata/wire/*.pcap")
	if len(paths) == 0 {
		t.Fatal("no captures in testdata/wire")
	}
	kinds := map[frameKind]int{}
	for _, path := range paths {
		for i, data := range readPcap(t, path) {
			if err := checkDecode(data); err != nil {
				t.Errorf("%s, frame %d: %v", path, i+1, err)
			}
			got, raw := decodeFrame(data), gopacketDecodeRaw(data)
			kinds[got.kind]++
			if !sameDecode(got, raw) && !(got.proto == "icmpv6" && len(raw.payload) == 0) {
				t.Errorf("%s, frame %d: the decoder: %s\n  gopacket: %s", path, i+1, got, raw)
			}
		}
	}
	t.Logf("frames by kind (unclassified, control, tcp, udp, echo): %v", kinds)
}

func TestWritePcapMatchesPcapgoByteForByte(t *testing.T) {
	frames := builtFrames(t)
	ev := newEvidence(nil)
	at := time.Unix(1_700_000_000, 123_456_789)
	for i, name := range sortedNames(frames) {
		ev.add(frame{node: "a", outgoing: true, at: at.Add(time.Duration(i) * 1001 * time.Microsecond), data: frames[name]})
	}
	ev.add(frame{node: "a", outgoing: true, at: time.Unix(0, 1), data: []byte{}})
	ev.add(frame{node: "a", outgoing: true, at: time.Unix(1<<32-1, 999_999_999), data: make([]byte, 70000)})
	var got bytes.Buffer
	if err := ev.WritePcap(&got); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	w := pcapgo.NewWriterNanos(&want)
	if err := w.WriteFileHeader(frameMax, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, f := range ev.kept {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(f.data), Length: len(f.data)}, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		i := 0
		for i < min(got.Len(), want.Len()) && got.Bytes()[i] == want.Bytes()[i] {
			i++
		}
		t.Fatalf("the pcap differs from pcapgo's at byte %d (%d bytes, pcapgo's %d)", i, got.Len(), want.Len())
	}
	if got.Len() != pcapHeaderLen+len(ev.kept)*pcapRecordHeadLen+totalLen(ev.kept) {
		t.Errorf("%d bytes", got.Len())
	}
}

func totalLen(fs []frame) int {
	n := 0
	for _, f := range fs {
		n += len(f.data)
	}
	return n
}

// Each deliberate difference from gopacket, on a frame that shows it:
// what gopacket filed, what the decoder does, and that the decoder never
// files fewer of the frame's bytes. hides marks the frames on which
// gopacket's decode let "hello" cross unseen, classified.
func TestDecoderDiffersFromGopacketOnlyOnTheSafeSide(t *testing.T) {
	const c4, s4, c6, s6 = "10.77.0.1", "10.77.0.2", "fd77::1", "fd77::2"
	hello := gopacket.Payload("hello")
	tcp := func() *layers.TCP {
		return &layers.TCP{SrcPort: 40000, DstPort: 21000, Seq: 1, ACK: true, Window: 1000}
	}
	udp := func(dst uint16) *layers.UDP { return &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(dst)} }
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: []byte{10, 77, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 77, 0, 2}}
	patch := func(b []byte, at int, v ...byte) []byte { copy(b[at:], v); return b }
	// An inner frame whose IPv4 length stops before "hello": a trailer
	// gopacket never looked at.
	inner := append(build(t, eth(macX, layers.EthernetTypeIPv4), ip4("10.1.0.1", "10.1.0.2", layers.IPProtocolTCP), tcp()), hello...)
	// A record route option's "addresses", as IP_OPTIONS sets them.
	recordRoute := ip4(c4, s4, layers.IPProtocolUDP)
	recordRoute.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: append([]byte{4}, "hello!!!"...)}, {OptionType: 0}}
	bigTCP := build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolTCP), tcp(), gopacket.Payload(append([]byte("hello"), make([]byte, 70000)...)))
	binary.BigEndian.PutUint16(bigTCP[14+2:], 0)
	cases := []struct {
		difference string
		frame      []byte
		raw        frameKind // what gopacket filed it as
		got        frameKind
		hides      bool
	}{
		{"encapsulated", build(t, eth(macA, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeARP}, arp),
			frameControl, frameUnclassified, false},
		{"encapsulated", build(t, eth(macA, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4},
			ip4(c4, s4, layers.IPProtocolTCP), tcp(), gopacket.Payload("hello\x00\x00\x00\x00")), frameTCP, frameUnclassified, false},
		{"one chain", build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolUDP), udp(4789), &layers.VXLAN{ValidIDFlag: true, VNI: 5}, gopacket.Payload(inner)),
			frameTCP, frameUDP, true},
		{"one chain", build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolUDP), udp(4789), &layers.VXLAN{ValidIDFlag: true, VNI: 5},
			eth(macX, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: []byte("hello!"), SourceProtAddress: []byte{10, 77, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 77, 0, 2}}),
			frameControl, frameUDP, true},
		{"one chain", build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeIPv4},
			ip4("10.1.0.1", "10.1.0.2", layers.IPProtocolTCP), tcp(), hello), frameTCP, frameUnclassified, false},
		{"header", patch(build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolIGMP), hello), 14, 0x44),
			frameControl, frameUnclassified, true},
		{"header", patch(build(t, eth(macA, layers.EthernetTypeIPv6), ip6(c6, s6, layers.IPProtocolIGMP), hello), 14+4, 0, 0),
			frameControl, frameUnclassified, true},
		{"transport header", patch(build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolTCP), tcp(), hello), 14+20+12, 0x40),
			frameTCP, frameUnclassified, true},
		{"transport header", build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolTCP), gopacket.Payload("hello, 19 bytes....")),
			frameTCP, frameUnclassified, true},
		{"transport header", patch(build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolUDP), udp(5000), hello), 14+20+4, 0, 1),
			frameUDP, frameUnclassified, true},
		{"after the UDP datagram", patch(build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, s4, layers.IPProtocolUDP), udp(5000), hello), 14+20+4, 0, 8),
			frameUDP, frameUnclassified, true},
		{"ICMPv6 echo payload", build(t, eth(macA, layers.EthernetTypeIPv6), ip6(c6, s6, layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}, &layers.ICMPv6Echo{Identifier: 9, SeqNumber: 1}, hello),
			frameEcho, frameEcho, true},
		{"hop-by-hop end", append(build(t, eth(macA, layers.EthernetTypeIPv6), ip6(c6, s6, layers.IPProtocolIPv6HopByHop),
			ext6(layers.IPProtocolTCP, []byte{5, 2, 0, 0, 1, 0}), tcp(), hello), 0, 0, 0, 0), frameTCP, frameTCP, false},
		{"IGMP over IPv6", build(t, eth(macA, layers.EthernetTypeIPv6), ip6(c6, s6, layers.IPProtocolIGMP), hello),
			frameControl, frameUnclassified, true},
		{"membership", build(t, eth(macA, layers.EthernetTypeIPv6), ip6("fe80::1", "ff02::16", layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(143, 0)}, gopacket.Payload(append([]byte{0, 0, 0, 1, 4, 0, 0, 0, 0xff, 5, 0, 0, 0, 0, 0, 0, 0, 0}, "hello\n"...))),
			frameControl, frameUnclassified, true},
		{"membership", build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, "224.0.0.22", layers.IPProtocolIGMP),
			gopacket.Payload(append([]byte{0x22, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 2, 232, 1, 1, 1}, "hello\n\x00\x00"...))),
			frameControl, frameUnclassified, true},
		{"membership", build(t, eth(macA, layers.EthernetTypeIPv4), ip4(c4, "239.104.101.108", layers.IPProtocolIGMP),
			gopacket.Payload([]byte{0x16, 0, 0, 0, 239, 104, 101, 108})), frameControl, frameUnclassified, false},
		{"ARP kinds", build(t, eth(macA, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 10, ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: []byte("hello, wor"), SourceProtAddress: []byte{10, 77, 0, 1},
			DstHwAddress: make([]byte, 10), DstProtAddress: []byte{10, 77, 0, 2}}), frameControl, frameUnclassified, true},
		{"ARP kinds", patch(build(t, eth(macA, layers.EthernetTypeARP), arp), 14, 0x01, 0x01), frameControl, frameUnclassified, false},
		{"IP options", build(t, eth(macA, layers.EthernetTypeIPv4), recordRoute, udp(5000), gopacket.Payload("x")), frameUDP, frameUnclassified, true},
		{"IP options", build(t, eth(macA, layers.EthernetTypeIPv6), ip6(c6, s6, layers.IPProtocolIPv6Destination),
			ext6(layers.IPProtocolTCP, append([]byte{0x1e, 5}, hello...)), tcp()), frameTCP, frameUnclassified, true},
		{"routing header", build(t, eth(macA, layers.EthernetTypeIPv6), ip6(c6, s6, layers.IPProtocolIPv6Routing),
			ext6(layers.IPProtocolTCP, append([]byte{0, 1, 0, 0, 0, 0}, "hello, 16 bytes."...)), tcp()), frameTCP, frameUnclassified, true},
		{"BIG TCP", bigTCP, frameTCP, frameUnclassified, false},
	}
	shown := map[string]bool{}
	for _, c := range cases {
		shown[c.difference] = true
		if differences[c.difference] == "" {
			t.Errorf("%q is no difference listed", c.difference)
		}
		raw, got := gopacketDecodeRaw(c.frame), decodeFrame(c.frame)
		if raw.kind != c.raw || got.kind != c.got {
			t.Errorf("%s: gopacket: %s\n  the decoder: %s", c.difference, raw, got)
			continue
		}
		if err := checkDecode(c.frame); err != nil {
			t.Errorf("%s: %v", c.difference, err)
		}
		sees := func(d decodedFrame) bool { return bytes.Contains(d.payload, []byte("hello")) }
		if c.hides != (bytes.Contains(c.frame, []byte("hello")) && raw.kind != frameUnclassified && !sees(raw)) {
			t.Errorf("%s: gopacket %s \"hello\": %s", c.difference, map[bool]string{true: "should hide", false: "should not hide"}[c.hides], raw)
		}
		if got.kind != frameUnclassified && !sees(got) {
			t.Errorf("%s: the decoder files the frame without \"hello\": %s", c.difference, got)
		}
		// Through the evidence: an encrypted claim fails on it, or finds
		// the bytes.
		ev := evidenceOf(leaving("a", flows.SenderOther, c.frame))
		if len(ev.Unclassified) == 0 && len(ev.Contains([]byte("hello"))) == 0 {
			t.Errorf("%s: the evidence neither finds \"hello\" nor calls the frame unclassified\n%s", c.difference, ev.Summary())
		}
	}
	for d := range differences {
		if !shown[d] {
			t.Errorf("no frame shows the difference %q", d)
		}
	}
}
