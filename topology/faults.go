package topology

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Disconnect cuts node's cable at the bridge: its bridge port goes down,
// so its eth0 loses carrier. Nothing is reset: frames are dropped, so
// existing TCP connections stall (and retransmit) and new ones time out,
// as when a machine's cable is pulled or its switch port dies. Consul's
// serf marks the node failed after its probes time out. Idempotent.
func (l *Lab) Disconnect(node string) error {
	n, port, err := l.port(node)
	if err != nil {
		return err
	}
	if err := l.brLink.LinkSetDown(port); err != nil {
		return fmt.Errorf("disconnecting node %s (link %s down in namespace %s): %w", n.name, n.port, l.bridgeNS, err)
	}
	n.setDisconnected(true)
	return nil
}

// Reconnect restores node's cable and returns once the bridge forwards its
// frames again.
func (l *Lab) Reconnect(node string) error {
	n, port, err := l.port(node)
	if err != nil {
		return err
	}
	if err := l.brLink.LinkSetUp(port); err != nil {
		return fmt.Errorf("reconnecting node %s (link %s up in namespace %s): %w", n.name, n.port, l.bridgeNS, err)
	}
	if err := l.waitForwarding([]*Node{n}); err != nil {
		return err
	}
	n.setDisconnected(false)
	return nil
}

// Heal undoes every cut cable and every loss, so that what still runs in
// the lab can reach the others: a client agent stopped on a cut node
// would otherwise spend seconds trying to tell its servers it leaves.
// Bandwidth limits stay: they slow nothing that cleanup waits for.
func (l *Lab) Heal() error {
	var errs []error
	for _, n := range l.Nodes() {
		n.mu.Lock()
		cut, lossy := n.disconnected, n.lossSet
		n.mu.Unlock()
		if cut {
			errs = append(errs, l.Reconnect(n.name))
		}
		if lossy {
			errs = append(errs, n.SetLoss(0))
		}
	}
	return errors.Join(errs...)
}

func (l *Lab) port(node string) (*Node, netlink.Link, error) {
	l.mu.Lock()
	closed := l.closed
	n, ok := l.byName[node]
	l.mu.Unlock()
	if !ok {
		return nil, nil, fmt.Errorf("no node %q in this lab", node)
	}
	if closed {
		return nil, nil, fmt.Errorf("node %s: the lab is closed", node)
	}
	port, err := l.brLink.LinkByIndex(n.portIndex)
	if err != nil {
		return nil, nil, fmt.Errorf("finding node %s's cable (%s in namespace %s): %w", node, n.port, l.bridgeNS, err)
	}
	return n, port, nil
}

// lossTable is the nftables table SetLoss owns in a node's namespace.
const lossTable = "scenario_loss"

// SetLoss drops percent % of the frames crossing the node's eth0, in each
// direction, chosen at random per frame; 0 removes the rule. lo is not
// touched. The drop is silent, as on a bad wire: nftables' `numgen random
// mod 100 < P drop` on the netdev ingress and egress hooks of eth0, in a
// table of its own in the node's namespace. The egress hook matters: a
// drop in the IP output path (an inet table) answers the sending socket
// with EPERM, which a UDP sender (serf's gossip) notices and logs; at
// the device, the kernel hides it. ARP is spared, as an IP-level rule
// spares it: the research's figures (connections, serf) were measured so,
// and a lost ARP frame stalls every packet to that neighbour for a 1 s
// retry. 100 % behaves like Disconnect, except the link stays up.
func (n *Node) SetLoss(percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("node %s: loss %d%%: give a percentage from 0 to 100", n.name, percent)
	}
	if err := n.open(); err != nil {
		return err
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(n.handle)))
	if err != nil {
		return fmt.Errorf("node %s: nftables: %w", n.name, err)
	}
	table := &nftables.Table{Name: lossTable, Family: nftables.TableFamilyNetdev}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lossSet {
		conn.DelTable(table)
	}
	if percent > 0 {
		conn.AddTable(table)
		for _, hook := range []struct {
			name string
			hook *nftables.ChainHook
		}{{"ingress", nftables.ChainHookIngress}, {"egress", nftables.ChainHookEgress}} {
			chain := conn.AddChain(&nftables.Chain{Name: hook.name, Table: table, Type: nftables.ChainTypeFilter,
				Hooknum: hook.hook, Priority: nftables.ChainPriorityFilter, Device: nodeLink})
			conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: lossRule(percent)})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("node %s: setting %d%% loss with nftables: %w", n.name, percent, err)
	}
	n.lossSet = percent > 0
	return nil
}

// lossRule is `meta protocol != arp numgen random mod 100 < percent drop`.
func lossRule(percent int) []expr.Any {
	limit := make([]byte, 4)
	binary.BigEndian.PutUint32(limit, uint32(percent))
	arp := make([]byte, 2)
	binary.BigEndian.PutUint16(arp, unix.ETH_P_ARP)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: arp},
		&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
		// cmp compares bytes in order: the number must be big-endian,
		// as nft itself does it.
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: limit},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// SetBandwidth limits what crosses the node's cable to rate bytes per
// second in each direction, with a token bucket (tbf) on both of its ends:
// eth0 in the node (what it sends) and its bridge port (what it receives).
// A burst of up to max(16 KB, rate/10) passes at once; packets waiting
// more than 500 ms are dropped. 0 removes the limit.
func (n *Node) SetBandwidth(rate uint64) error {
	if err := n.open(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	h, err := n.netlinkHandle()
	if err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	defer h.Close()
	eth, err := h.LinkByName(nodeLink)
	if err != nil {
		return fmt.Errorf("node %s: finding %s: %w", n.name, nodeLink, err)
	}
	port, err := n.lab.brLink.LinkByIndex(n.portIndex)
	if err != nil {
		return fmt.Errorf("node %s: finding its cable's end %s in namespace %s: %w", n.name, n.port, n.lab.bridgeNS, err)
	}
	ends := []struct {
		h    *netlink.Handle
		link netlink.Link
		ns   string
	}{{h, eth, n.ns}, {n.lab.brLink, port, n.lab.bridgeNS}}
	for _, end := range ends {
		attrs := netlink.QdiscAttrs{LinkIndex: end.link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
		if rate == 0 {
			if !n.bwSet {
				return nil
			}
			err := end.h.QdiscDel(&netlink.Tbf{QdiscAttrs: attrs})
			if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("node %s: removing the bandwidth limit on %s in namespace %s: %w", n.name, end.link.Attrs().Name, end.ns, err)
			}
			continue
		}
		burst := max(uint64(16<<10), rate/10)
		tbf := &netlink.Tbf{QdiscAttrs: attrs, Rate: rate,
			Buffer: netlink.Xmittime(rate, uint32(burst)),
			Limit:  uint32(min(rate/2+burst, 1<<31))} // 500 ms of queue
		if err := end.h.QdiscReplace(tbf); err != nil {
			return fmt.Errorf("node %s: limiting %s in namespace %s to %d B/s (tbf): %w", n.name, end.link.Attrs().Name, end.ns, rate, err)
		}
	}
	n.bwSet = rate > 0
	return nil
}

func (n *Node) setDisconnected(v bool) {
	n.mu.Lock()
	n.disconnected = v
	n.mu.Unlock()
}

func (n *Node) isDisconnected() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.disconnected
}
