package topology

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ipv4Frame is an Ethernet frame carrying an IPv4 packet of proto (6 TCP,
// 17 UDP) from src to dst; for TCP, flags and seq go in its header.
func ipv4Frame(proto byte, src, dst netip.AddrPort, flags byte, seq uint32, payload string) frame {
	var l4 []byte
	if proto == 6 {
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint32(l4[4:8], seq)
		l4[12] = 5 << 4
		l4[13] = flags
	} else {
		l4 = make([]byte, 8)
	}
	binary.BigEndian.PutUint16(l4[0:2], src.Port())
	binary.BigEndian.PutUint16(l4[2:4], dst.Port())
	l4 = append(l4, payload...)
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+len(l4)))
	ip[9] = proto
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	eth := make([]byte, 14)
	binary.BigEndian.PutUint16(eth[12:14], 0x0800)
	return frame{node: "a", data: append(append(eth, ip...), l4...)}
}

// A flow whose handshake the capture did not see, first seen as the
// server's reply, is still named client -> server: the client is the end
// on an ephemeral port. With the handshake seen, the SYN decides.
func TestFlowDirectionWithoutItsHandshake(t *testing.T) {
	client := netip.MustParseAddrPort("10.77.0.2:41234")
	server := netip.MustParseAddrPort("10.77.0.3:21000")
	const ack, psh, syn = 0x10, 0x08, 0x02
	for name, frames := range map[string][]frame{
		"tcp, the server's bytes first": {
			ipv4Frame(6, server, client, ack|psh, 900, "reply"),
			ipv4Frame(6, client, server, ack|psh, 100, "more"),
		},
		"udp, the server's datagram first": {
			ipv4Frame(17, server, client, 0, 0, "answer"),
			ipv4Frame(17, client, server, 0, 0, "query"),
		},
		"tcp with its SYN": {
			ipv4Frame(6, client, server, syn, 99, ""),
			ipv4Frame(6, server, client, syn|ack, 899, ""),
			ipv4Frame(6, server, client, ack|psh, 900, "reply"),
		},
	} {
		ev := newEvidence(nil)
		for _, f := range frames {
			ev.add(f)
		}
		ev.finish()
		streams := ev.Streams()
		if len(streams) != 1 {
			t.Fatalf("%s: %d streams", name, len(streams))
		}
		if f := streams[0].Flow; f.Client != client || f.Server != server {
			t.Errorf("%s: flow %s, want %s → %s", name, f, client, server)
		}
	}
}
