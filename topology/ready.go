package topology

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/wait"
)

// A bridge port forwards only once the kernel has noticed its carrier,
// asynchronously (linkwatch), a millisecond or so after both ends are up.
// A frame sent before that is dropped, and its loss costs a full second:
// the sender's ARP or SYN retransmission. So New (and Reconnect) wait for
// every port concerned to be up and forwarding.
const (
	brStateForwarding = 3 // BR_STATE_FORWARDING
	operUp            = 6 // IF_OPER_UP
	readyTimeout      = 5 * time.Second
)

type portState struct{ oper, state int }

// portStates reads the operational and STP state of every port of the
// bridge, by ifindex.
func (l *Lab) portStates() (map[int]portState, error) {
	states := map[int]portState{}
	err := l.inBridge(func() error {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		msgs, err := req.Execute(unix.NETLINK_ROUTE, 0)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			info := nl.DeserializeIfInfomsg(m)
			attrs, err := nl.ParseRouteAttr(m[info.Len():])
			if err != nil {
				return err
			}
			ps := portState{oper: -1, state: -1}
			for _, a := range attrs {
				switch a.Attr.Type &^ unix.NLA_F_NESTED {
				case unix.IFLA_OPERSTATE:
					if len(a.Value) > 0 {
						ps.oper = int(a.Value[0])
					}
				case unix.IFLA_PROTINFO:
					infos, err := nl.ParseRouteAttr(a.Value)
					if err != nil {
						return err
					}
					for _, i := range infos {
						if i.Attr.Type == nl.IFLA_BRPORT_STATE && len(i.Value) > 0 {
							ps.state = int(i.Value[0])
						}
					}
				}
			}
			states[int(info.Index)] = ps
		}
		return nil
	})
	return states, err
}

// waitForwarding waits until the bridge ports of nodes are up and
// forwarding.
func (l *Lab) waitForwarding(nodes []*Node) error {
	cond := wait.Func("the bridge ports to forward", func(context.Context) error {
		states, err := l.portStates()
		if err != nil {
			return wait.Fatal(fmt.Errorf("reading the bridge ports in namespace %s: %w", l.bridgeNS, err))
		}
		var notYet []string
		for _, n := range nodes {
			if s := states[n.portIndex]; s.oper != operUp || s.state != brStateForwarding {
				notYet = append(notYet, fmt.Sprintf("%s (node %s): operstate %d, port state %d", n.port, n.name, s.oper, s.state))
			}
		}
		if len(notYet) > 0 {
			return fmt.Errorf("not yet forwarding: %s", strings.Join(notYet, "; "))
		}
		return nil
	})
	err := wait.For(context.Background(), cond, wait.Options{Timeout: readyTimeout, MinInterval: 500 * time.Microsecond, MaxInterval: 10 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("lab %s: %w", l.prefix, err)
	}
	return nil
}
