// Package flows holds the values of wire evidence: the flows a capture of
// a topology's cables saw (Flow, Stream, Endpoint), whose sockets sent
// them (Sender), and the Evidence a capture hands to the steps that judge
// it. It is its own package, with no kernel code, so that the step types
// (and with them the scenario file's loader and validator) can speak of
// the wire without linking the capture itself: package topology, which
// captures with netlink and nftables and decodes the frames, produces
// these values, and package steps only reads them.
package flows

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// NodeLink is a node's end of its cable, the link a node's frames leave
// by unless they were routed another way.
const NodeLink = "eth0"

// Flow is one TCP connection, UDP conversation or ICMP echo exchange seen
// on the wire, IPv4 or IPv6. Client is the endpoint that sent the TCP SYN
// (the echo request); when none was captured (or for UDP), the sender of
// the first frame seen.
type Flow struct {
	Proto  string // "tcp", "udp", "icmp" or "icmpv6" (ports: the echo identifier)
	Client netip.AddrPort
	Server netip.AddrPort
}

func (f Flow) String() string { return fmt.Sprintf("%s %s → %s", f.Proto, f.Client, f.Server) }

// Ref points into a flow's payload: the direction and the byte offset in
// that direction's reassembled stream.
type Ref struct {
	Flow     Flow
	ToServer bool
	Offset   int
}

func (r Ref) String() string {
	dir := "to the server"
	if !r.ToServer {
		dir = "to the client"
	}
	return fmt.Sprintf("%s, %s, at byte %d", r.Flow, dir, r.Offset)
}

// Sender says whose socket sent a frame out of a node, as that node's
// kernel tagged it when it left.
type Sender uint8

const (
	// SenderAgent is a socket of a process of the agents' group: the
	// scenario's consul agents.
	SenderAgent Sender = 1 << iota
	// SenderProxy is a socket of a process of the proxies' group: the
	// Connect proxies the scenario started.
	SenderProxy
	// SenderOther is any other socket of a node, or the node's kernel
	// itself (a reset, an ICMP answer).
	SenderOther
	// SenderOutside is a frame that arrived on a node from a link whose
	// other end the capture does not cover: its sender is unknown.
	SenderOutside
)

// String names a kind of sender, or every kind in a set.
func (s Sender) String() string {
	var names []string
	for _, k := range []struct {
		kind Sender
		name string
	}{
		{SenderAgent, "a consul agent of the scenario"},
		{SenderProxy, "a Connect proxy of the scenario"},
		{SenderOther, "neither the scenario's agents nor its proxies"},
		{SenderOutside, "a sender outside the capture"},
	} {
		if s&k.kind != 0 {
			names = append(names, k.name)
		}
	}
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, " and ")
}

// Endpoint is one end of a flow, as the frames it sent show it.
type Endpoint struct {
	Addr netip.AddrPort
	// Node and Link are where its frames were captured: the node and link
	// they left by, or for an end outside the capture, those they reached;
	// "" when it sent nothing that was captured.
	Node, Link string
	// Sent is every kind of sender its frames came from (a set): a frame
	// counts when its socket was tagged (an agent's, a proxy's), or when it
	// carries payload or a SYN. Pure ACKs and resets from elsewhere do not
	// count: the kernel sends those for a socket already closed, untagged.
	Sent Sender
}

// Describe says in words where an end sent from and whose socket it was.
func (e Endpoint) Describe() string {
	if e.Node == "" {
		return fmt.Sprintf("%s (sent nothing the capture saw)", e.Addr)
	}
	who := "sent nothing that counts"
	if e.Sent != 0 {
		who = "sent by " + e.Sent.String()
	}
	where := "node " + e.Node
	if e.Link != NodeLink {
		where += " (link " + e.Link + ")"
	}
	return fmt.Sprintf("%s on %s, %s", e.Addr, where, who)
}

// Stream is what a flow carried: the payload in each direction, in order
// (TCP: reassembled by sequence number, each byte once however often it
// was sent; UDP and ICMP: the datagrams one after another).
type Stream struct {
	Flow           Flow
	Client, Server Endpoint
	// ToServer and ToClient are the payload each way.
	ToServer, ToClient []byte
	// Gaps lists the byte ranges of the TCP stream that no captured
	// segment carried, per direction.
	GapsToServer, GapsToClient []Gap
	// Nodes are the captured nodes where its frames were seen.
	Nodes []string
}

// Payload is how many bytes the flow carried, both ways.
func (s *Stream) Payload() int { return len(s.ToServer) + len(s.ToClient) }

// Carrier is every kind of sender that the flow's two ends sent from: just
// SenderAgent when only the scenario's agents' sockets sent anything on
// it, just SenderProxy when only its Connect proxies' did. An end that
// sent nothing that counts adds nothing: the bytes on the wire were the
// other end's.
func (s *Stream) Carrier() Sender { return s.Client.Sent | s.Server.Sent }

// Gap is a range of a stream that the capture did not see.
type Gap struct {
	Offset int   // where in the payload it is
	Length int64 // how many bytes of the stream the capture did not see there
	// Filled is how many zero bytes stand in for them in the payload:
	// all of them, up to a bound (a long gap costs no memory).
	Filled int
}

// Tally is what a capture counted beside its flows: how whole it is.
type Tally struct {
	// Frames counts the frames kept (end markers excluded): each frame
	// once, where it left a node.
	Frames int
	// Dropped counts the frames the kernel dropped because a capture
	// socket's buffer was full; Truncated, frames larger than the read
	// buffer. Both should be 0.
	Dropped, Truncated int
	// Incomplete says why frames might be missing at the end.
	Incomplete []string
	// Unclassified describes the frames that carried something the
	// capture cannot account for byte by byte (another protocol than
	// TCP, UDP, ICMP echo, ARP and ICMP's control messages; a VLAN tag or
	// a tunnel; an IP fragment; a header that does not decode, or IP
	// options that could carry anything; bytes after an IP or UDP
	// datagram): any such frame leaves the evidence incomplete.
	Unclassified []string
}

// Evidence is what a capture of the nodes' cables saw (package
// topology's WireEvidence), as the steps that judge it read it.
type Evidence interface {
	// Tallied is how whole the capture is.
	Tallied() Tally
	// Streams lists every flow seen, in the order of their first frame.
	Streams() []*Stream
	// Stream returns what flow carried.
	Stream(f Flow) (*Stream, bool)
	// Contains says where marker appears in any payload, across TCP
	// segment boundaries (within each UDP datagram): every occurrence.
	Contains(marker []byte) []Ref
	// ContainsFold is Contains with ASCII letters matched in either case.
	ContainsFold(marker []byte) []Ref
	// TLSRecords says whether flow's payload, each way, is entirely TLS
	// records; why names the first offending direction and offset.
	TLSRecords(f Flow) (ok bool, why string)
	// Summary lists the flows, one a line, for a failure message.
	Summary() string
	// WritePcap writes every frame kept to w as a pcap file.
	WritePcap(w io.Writer) error
	// WritePcapFile writes the capture (WritePcap) to path, privately.
	WritePcapFile(path string) error
}
