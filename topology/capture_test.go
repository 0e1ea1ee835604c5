package topology

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/flows"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/wait"
)

// checkClean fails the test if the capture may have missed frames.
func checkClean(t *testing.T, ev *WireEvidence) {
	t.Helper()
	if ev.Dropped != 0 || ev.Truncated != 0 || len(ev.Incomplete) != 0 {
		t.Errorf("the capture lost frames: %d dropped, %d truncated, %v", ev.Dropped, ev.Truncated, ev.Incomplete)
	}
}

// startCapture starts capturing on nodes of l (none: every node).
func startCapture(t *testing.T, l *Lab, nodes ...string) *Capture {
	t.Helper()
	c, err := l.Capture(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stopCapture stops c and returns what it captured.
func stopCapture(t *testing.T, c *Capture) *WireEvidence {
	t.Helper()
	ev, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// listenOn listens on TCP addr in node n until the test ends.
func listenOn(t *testing.T, n *Node, addr string) net.Listener {
	t.Helper()
	ln, err := n.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// awaitPeer waits, 10 s at the most, for a wire peer to be up.
func awaitPeer(t *testing.T, up wait.Condition) {
	t.Helper()
	if err := wait.For(context.Background(), up, wait.Options{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
}

// sendInPieces writes msg in two writes (so that it crosses a segment
// boundary on the wire) and reads its echo.
func sendInPieces(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	half := len(msg) / 2
	for _, part := range []string{msg[:half], msg[half:]} {
		if _, err := io.WriteString(c, part); err != nil {
			t.Fatal(err)
		}
		// Wait for the echo of each part, so the parts leave separately.
		buf := make([]byte, len(part))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != part {
			t.Fatalf("echo: %q, %v", buf, err)
		}
	}
}

func TestCaptureSeesPlaintextBetweenNodes(t *testing.T) {
	l := newLab(t, "a", "b", "c")
	a, b := node(t, l, "a"), node(t, l, "b")
	ln := listenOn(t, b, b.Addr().String()+":8181")
	echoServer(ln)
	capture := startCapture(t, l, "a", "b")
	c, err := dialWithin(a, b.Addr().String()+":8181", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "PLAINTEXT-MARKER-4f2a"
	sendInPieces(t, c, marker)
	c.Close()
	start := time.Now()
	ev := stopCapture(t, capture)
	t.Logf("Stop took %v; %s", time.Since(start), ev.Summary())
	checkClean(t, ev)
	refs := ev.Contains([]byte(marker))
	if len(refs) != 2 {
		t.Fatalf("the marker was found %d times, want twice (sent and echoed): %v\n%s", len(refs), refs, ev.Summary())
	}
	flow := refs[0].Flow
	if flow.Proto != "tcp" || flow.Client.Addr() != a.Addr() || flow.Server.String() != "10.77.0.2:8181" {
		t.Errorf("flow %v, want tcp from a to 10.77.0.2:8181", flow)
	}
	if !refs[0].ToServer || refs[1].ToServer || refs[0].Offset != 0 || refs[1].Offset != 0 {
		t.Errorf("refs %v, want one each way at offset 0", refs)
	}
	// Seen on both cables, kept once.
	s, _ := ev.Stream(flow)
	if string(s.ToServer) != marker || string(s.ToClient) != marker {
		t.Errorf("reassembled: %q to the server, %q back; want the marker once each way", s.ToServer, s.ToClient)
	}
	if strings.Join(s.Nodes, ",") != "a,b" {
		t.Errorf("seen on %v, want a and b", s.Nodes)
	}
	if got := ev.BytesBetween("a", "b"); got != 2*len(marker) {
		t.Errorf("%d bytes between a and b, want %d", got, 2*len(marker))
	}
	if got := ev.BytesBetween("a", "c"); got != 0 {
		t.Errorf("%d bytes between a and c", got)
	}
	if ok, why := ev.TLSRecords(flow); ok || !strings.Contains(why, "offset 0: content type 80") {
		t.Errorf("TLSRecords on plaintext: %v, %q", ok, why)
	}
	// A second Stop gives the same evidence.
	if again, err := capture.Stop(); again != ev || err != nil {
		t.Errorf("a second Stop: %p, %v", again, err)
	}
}

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "b"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"b"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestCaptureSeesOnlyTLSRecordsInATLSExchange(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	echoServer(tls.NewListener(listenOn(t, b, b.Addr().String()+":21000"), selfSignedTLS(t)))
	capture := startCapture(t, l) // every node
	rawConn, err := dialWithin(a, b.Addr().String()+":21000", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(rawConn, &tls.Config{InsecureSkipVerify: true})
	const marker = "SECRET-MARKER-91c3"
	sendInPieces(t, c, strings.Repeat(marker, 3000)) // 54 KB: many records
	c.Close()
	ev := stopCapture(t, capture)
	t.Log(ev.Summary())
	checkClean(t, ev)
	if refs := ev.Contains([]byte(marker)); len(refs) != 0 {
		t.Fatalf("the marker is in clear on the wire: %v", refs)
	}
	var flow flows.Flow
	for _, s := range ev.Streams() {
		if s.Flow.Proto == "tcp" && s.Flow.Server.Port() == 21000 {
			flow = s.Flow
		}
	}
	if !flow.Server.IsValid() {
		t.Fatalf("the TLS flow was not captured:\n%s", ev.Summary())
	}
	if ok, why := ev.TLSRecords(flow); !ok {
		t.Errorf("TLSRecords: %s", why)
	}
	if got := ev.BytesBetween("a", "b"); got < 2*3000*len(marker) {
		t.Errorf("%d bytes between a and b, want at least the payload both ways (%d)", got, 2*3000*len(marker))
	}
	// The same exchange, shown in clear to TLSRecords, fails it.
	s, _ := ev.Stream(flow)
	if why := tlsRecords(append(append([]byte(nil), s.ToServer...), "junk"...)); !strings.Contains(why, "too few for a TLS record header") {
		t.Errorf("trailing junk: %q", why)
	}
	if why := tlsRecords([]byte{23, 3, 3, 0x50, 0}); !strings.Contains(why, "exceeds") {
		t.Errorf("an oversized record: %q", why)
	}
}

// Loopback traffic inside a node never reaches its cable.
func TestCaptureIgnoresLoopback(t *testing.T) {
	l := newLab(t, "a", "b")
	a := node(t, l, "a")
	ln := listenOn(t, a, "127.0.0.1:8181")
	echoServer(ln)
	own := listenOn(t, a, a.Addr().String()+":8182") // its own address: routed through lo too
	echoServer(own)
	capture := startCapture(t, l, "a")
	const marker = "LOOPBACK-MARKER-77e0"
	for _, addr := range []string{"127.0.0.1:8181", a.Addr().String() + ":8182"} {
		c, err := dialWithin(a, addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		sendInPieces(t, c, marker)
		c.Close()
	}
	ev := stopCapture(t, capture)
	if refs := ev.Contains([]byte(marker)); len(refs) != 0 {
		t.Errorf("loopback traffic was captured: %v", refs)
	}
	for _, s := range ev.Streams() {
		if s.Flow.Proto == "tcp" {
			t.Errorf("a TCP flow on a's cable: %v", s.Flow)
		}
	}
}

// A bulk transfer between two captured nodes, stopped right after: no frame
// is lost (the kernel's drop counter and the reassembled stream agree),
// on both ends.
func TestCaptureLosesNothingOfABulkTransfer(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	ln := listenOn(t, b, b.Addr().String()+":8181")
	const size = 16 << 20
	received := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer c.Close()
		data, _ := io.ReadAll(c)
		received <- data
	}()
	capture := startCapture(t, l, "a", "b")
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", b.Addr().String()+":8181")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := <-received; !bytes.Equal(got, payload) {
		t.Fatalf("the receiver got %d bytes", len(got))
	}
	sent := time.Since(start)
	stopStart := time.Now()
	ev := stopCapture(t, capture)
	t.Logf("16 MB sent in %v; Stop took %v; %d frames, %d dropped, %d truncated", sent, time.Since(stopStart), ev.Frames, ev.Dropped, ev.Truncated)
	checkClean(t, ev)
	for _, s := range ev.Streams() {
		if s.Flow.Proto == "tcp" {
			if !bytes.Equal(s.ToServer, payload) || len(s.GapsToServer) != 0 {
				t.Errorf("reassembled %d bytes with gaps %v; want the %d sent, whole", len(s.ToServer), s.GapsToServer, size)
			}
			return
		}
	}
	t.Fatalf("no TCP flow captured:\n%s", ev.Summary())
}

// A node disconnected during the capture sends no end marker and expects
// none: Stop does not wait for what cannot come.
func TestCaptureStopsPromptlyWithANodeDisconnected(t *testing.T) {
	l := newLab(t, "a", "b", "c")
	capture := startCapture(t, l)
	if err := l.Disconnect("b"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ev := stopCapture(t, capture)
	if d := time.Since(start); d > stopDeadline/2 {
		t.Errorf("Stop took %v", d)
	}
	checkClean(t, ev)
	if _, err := l.Capture("nosuch"); err == nil {
		t.Error("Capture accepted an unknown node")
	}
}

// peer starts the test binary in node n as a wire peer (see wirePeer)
// with group gid, and stops it when the test ends.
func peer(t *testing.T, n *Node, gid uint32, mark int, what string) *exec.Cmd {
	t.Helper()
	return peerWith(t, n, gid, mark, what, nil)
}

func peerWith(t *testing.T, n *Node, gid uint32, mark int, what string, stdin io.Reader) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "TOPOLOGY_TEST_ROLE=wire-peer", "WIRE_PEER="+what, fmt.Sprintf("WIRE_PEER_MARK=%d", mark))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL,
		Credential: &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: gid, NoSetGroups: true}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &out, stdin
	if err := n.Do(cmd.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// Every frame is known by whose socket sent it, as the node's kernel
// tagged it: a proxy's, an agent's, or neither's (a process that sets
// the proxies' mark on its own socket is still neither).
func TestCaptureTellsTheAgentsAndProxiesFramesFromOthers(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	capture := startCapture(t, l)
	peer(t, b, ProxyGroup, 0, "echo 10.77.0.2:9000")
	listening := wait.Func("the echo peer to listen", func(context.Context) error {
		c, err := dialWithin(a, "10.77.0.2:9000", time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	awaitPeer(t, listening)
	for _, p := range []struct {
		gid  uint32
		mark int
		what string
	}{
		{ProxyGroup, 0, "send 10.77.0.2:9000 proxy-to-proxy"},
		{0, int(ProxyGroup), "send 10.77.0.2:9000 forged-mark"},
		{AgentGroup, 0, "udp 10.77.0.2:9002 gossip"},
		{0, 0, "udp 10.77.0.2:9003 nobodys"},
	} {
		if err := peer(t, a, p.gid, p.mark, p.what).Wait(); err != nil {
			t.Fatalf("%s: %v", p.what, err)
		}
	}
	ev := stopCapture(t, capture)
	checkClean(t, ev)
	want := map[string]flows.Sender{
		"proxy-to-proxy": flows.SenderProxy,
		"forged-mark":    flows.SenderOther | flows.SenderProxy,
		"gossip":         flows.SenderAgent,
		"nobodys":        flows.SenderOther,
	}
	for msg, carrier := range want {
		refs := ev.Contains([]byte(msg))
		if len(refs) == 0 {
			t.Errorf("%s: not captured\n%s", msg, ev.Summary())
			continue
		}
		s, _ := ev.Stream(refs[0].Flow)
		if s.Carrier() != carrier {
			t.Errorf("%s: carried by %v, want %v\n%s", msg, s.Carrier(), carrier, ev.Summary())
		}
	}
}

// What the kernel sends for a proxy's socket after the proxy closed it
// (the rest of a reply written just before the close) is still the
// proxy's: the connection's mark carries the tag.
func TestCaptureKeepsTheTagOfWhatLeavesAfterTheClose(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	capture := startCapture(t, l)
	start, release := io.Pipe()
	sink := peerWith(t, b, ProxyGroup, 0, "sink 10.77.0.2:9004", start)
	listening := wait.Func("the sink to listen", func(context.Context) error {
		return b.Do(func() error {
			ls, err := sockets.On(&net.TCPAddr{IP: net.IPv4(10, 77, 0, 2), Port: 9004})
			if err == nil && len(ls) == 0 {
				err = errors.New("not yet")
			}
			return err
		})
	})
	awaitPeer(t, listening)
	const size = 1 << 20 // far more than the sink's window (most leaves after the close), less than a send buffer
	if err := peer(t, a, ProxyGroup, 0, fmt.Sprintf("blast 10.77.0.2:9004 %d", size)).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(release, "go\n"); err != nil {
		t.Fatal(err)
	}
	release.Close() // Wait waits for stdin's end
	if err := sink.Wait(); err != nil {
		t.Fatal(err)
	}
	ev := stopCapture(t, capture)
	checkClean(t, ev)
	for _, s := range ev.Streams() {
		if s.Flow.Server.Port() == 9004 {
			if len(s.ToServer) != size || s.Carrier() != flows.SenderProxy {
				t.Errorf("%d bytes carried by %v; want %d, all a proxy's\n%s", len(s.ToServer), s.Carrier(), size, ev.Summary())
			}
			return
		}
	}
	t.Fatalf("the flow was not captured\n%s", ev.Summary())
}

// A packet socket with PACKET_QDISC_BYPASS (root in the node) sends past
// the node's own capture sockets: the frame, from the node's own address,
// is seen only where it arrives, and must be kept there and named, its
// bytes searched. A frame sent the ordinary way is a copy, kept once.
func TestCaptureKeepsWhatArrivesWithoutBeingSeenLeaving(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	capture := startCapture(t, l)
	const secret = "BYPASS-MARKER-77c1"
	var eth *net.Interface
	if err := a.Do(func() (err error) { eth, err = net.InterfaceByName("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	for _, bypass := range []int{0, 1} {
		udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + bypass), DstPort: 9999}
		ip := ip4(a.Addr().String(), b.Addr().String(), layers.IPProtocolUDP)
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		f := build(t, &layers.Ethernet{SrcMAC: eth.HardwareAddr, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeIPv4},
			ip, udp, gopacket.Payload(fmt.Sprintf("%s-%d", secret, bypass)))
		err := a.Do(func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, bypass); err != nil {
				return err
			}
			return unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: eth.Index, Halen: 6})
		})
		if err != nil {
			t.Fatalf("sending from a (PACKET_QDISC_BYPASS %d): %v", bypass, err)
		}
	}
	ev := stopCapture(t, capture)
	if len(ev.Unclassified) != 1 || !strings.Contains(ev.Unclassified[0], "from node a's address") || !strings.Contains(ev.Unclassified[0], "reached node b by eth0, which no capture saw leave a node") {
		t.Errorf("unclassified: %q, want the bypassing frame named\n%s", ev.Unclassified, ev.Summary())
	}
	for bypass, sender := range []flows.Sender{flows.SenderOther, flows.SenderOutside} {
		refs := ev.Contains([]byte(fmt.Sprintf("%s-%d", secret, bypass)))
		if len(refs) != 1 {
			t.Errorf("PACKET_QDISC_BYPASS %d: found %d times, want once\n%s", bypass, len(refs), ev.Summary())
			continue
		}
		if s, _ := ev.Stream(refs[0].Flow); s.Carrier() != sender {
			t.Errorf("PACKET_QDISC_BYPASS %d: sent by %v, want %v", bypass, s.Carrier(), sender)
		}
	}
}
