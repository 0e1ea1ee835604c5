// Package topology builds a run's private network: several "machines" on
// one host, each a Linux network namespace, cabled to one bridge, so that
// a scenario can run a real multi-node Consul cluster (servers, clients,
// datacenters) and break its network on purpose.
//
// # Why network namespaces
//
// A namespace has its own interfaces, addresses, routes, firewall and
// port space, and costs a few milliseconds. Every node therefore runs
// Consul and its proxies on the stock ports (8500, 8301, 21000...) with
// the same service definitions, and traffic between nodes crosses a real
// link where it can be cut, slowed, dropped and captured. Containers or
// VMs would add an image, a daemon and seconds per node for nothing more.
//
// # Layout
//
// New(prefix, nodes) makes a namespace prefix+"-br" holding a bridge br0,
// and for the i-th node a namespace prefix+"-"+node with lo up and eth0 at
// 10.77.0.(i+1)/24. Each eth0 is one end of a veth pair whose other end
// (p1, p2, ...) is created directly in the bridge namespace and enslaved
// to br0: nothing ever appears in the host's namespace, and every run has
// its own bridge, so parallel runs can all use the same subnet. Namespace
// names are files under /run/netns, as `ip netns` keeps them, so
// `ip netns exec NAME ...` works on a live lab; they are machine-wide,
// hence the run-unique prefix.
//
// New returns once every bridge port forwards: the kernel notices a new
// link's carrier asynchronously, and a frame sent before that is dropped,
// which costs the sender a whole second (its ARP or SYN retransmission).
//
// Close removes the namespaces, the bridge's first: each cable's bridge
// end lives there, so every link goes with it even if a process the
// runner failed to stop still holds a node's namespace. WithRegistrar
// lets the runner's reaper hear of each namespace before it is created
// and after it is removed, so that a runner killed by SIGKILL leaves none
// behind (the reaper kills the processes first, then removes the names).
//
// # Acting inside a node
//
// Node.Do runs a function on an OS thread moved into the node's namespace
// (setns) and moved back afterwards; exec.Cmd.Start called there starts
// the child inside the node, and a socket made there belongs to the node
// for its whole life. The thread is always moved back rather than
// discarded: a locked thread that Go cannot end (the main thread) would be
// parked forever in the namespace and keep it alive. So every thread not
// in a hop is in the process's own namespace, which is opened once
// (nsthread.OnOwnThread): a hop costs two setns and a goroutine, about 6 µs
// of CPU. No thread waits inside a node between calls: handing each call
// to such a thread cost more (two thread hand-offs a call, 10-35 µs) and
// would keep the namespace alive until the lab closed.
//
// Node.DialContext (it fits http.Transport) makes only its socket in the
// node, and dials on the caller's goroutine: a socket keeps the namespace
// it was made in, and a dial waiting on a thread locked inside the node
// costs Go two thread hand-offs to wake it (about 70 µs). Node.Listen
// listens from inside, which never waits.
//
// # Faults, in Consul terms
//
//   - Lab.Disconnect(node) / Reconnect(node): the node's cable is pulled at
//     the bridge (its port goes down). Nothing is reset: established TCP
//     connections (a proxy's long-lived upstream connection) stall and
//     resume after Reconnect; new connections to the node time out. Serf
//     marks the node failed after its probes go unanswered (about 6 s
//     with LAN defaults) and the catalog drops its instances; the built-in
//     proxy's fixed 10 s dial timeout is what a client sees meanwhile.
//   - Node.SetLoss(percent): nftables drops that share of the IP packets
//     crossing the node's eth0 at random, in and out, silently (at the
//     device: no sender is told, unlike a drop in the IP output path,
//     which answers a UDP sender with EPERM); lo and ARP are spared.
//     Gossip and raft lose packets, connections see retransmissions and
//     slow handshakes; 100 % is a partition that leaves the link up.
//   - Node.SetBandwidth(bytes/s): a token bucket (tbf) on both ends of the
//     cable, so the node's traffic is limited both ways.
//
// The kernel decides which faults exist. The one this was written on has
// no sch_netem (and no NFQUEUE), so there is no added latency, jitter,
// reordering or duplication: a scenario cannot make a link slow, only
// lossy, narrow or cut. tbf and nftables are what the kernel offers.
//
// # Wire evidence
//
// Lab.Capture(nodes...) records every frame that leaves a captured node on
// any link but lo (eth0, and any link made inside the node, during the
// capture too), IPv4, IPv6 or any other EtherType, with AF_PACKET sockets
// of its own: traffic between a sidecar and its local app, inside one
// node, is not on the wire. Whose socket sent each frame comes from the
// node's kernel: the runner starts the agents with group AgentGroup and
// the Connect proxies with ProxyGroup, and an nftables rule in each node
// (`meta mark set 0`, then `meta skgid G meta mark set G`) marks what
// their sockets send, so no process can pass for them by setting a mark;
// each node has one capture socket per kind of sender, whose kernel
// filter reads the mark. So the owner of every byte is known when it
// crosses, even for a connection gone by the time anyone could look.
// A frame arriving from a link no captured node sent on is kept too (its
// sender is outside the capture); the lab's own frames are kept once,
// where they leave. Stop sends an end marker frame (EtherType 0x88B5,
// local experimental) out of each captured node and reads each socket
// until the others' markers have come and it has gone quiet, so frames
// still in flight at the stop are kept; the kernel's drop counter is
// reported. The WireEvidence decodes the frames (frames.go: one chain,
// Ethernet, ARP or IP, then TCP, UDP or ICMP; its tests hold it to
// gopacket's decoders), files TCP, UDP and ICMP echo flows (each TCP
// direction reassembled by sequence number, each byte once) with each
// end's node and kinds of sender, lists what it cannot file (another
// protocol, a tunnel, an IP fragment, a header it cannot read, bytes
// after a datagram) as Unclassified, and answers: where does a
// plaintext marker appear (Contains, ContainsFold), is a flow made only
// of TLS records (TLSRecords), who carried a flow (Stream.Carrier), how
// many payload bytes crossed between two nodes (BytesBetween). WritePcap
// writes the frames as a pcap file. The values it answers with (Flow,
// Stream, Endpoint, Sender) are package flows', which the steps read
// without linking any of this.
//
// Everything here needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); Permitted
// says cheaply whether this process has what it takes, and if not, why.
package topology
