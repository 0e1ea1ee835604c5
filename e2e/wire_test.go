package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/runner"
)

// The wire, complete by construction (issue 18, findings 1-4): a probe
// claimed `wire: encrypted` while its bytes crossed a cable in clear by a
// path the capture did not account for, or while the probe never left its
// node, must fail naming the cause; a true claim with a backend that
// answers and closes must pass. Each case is a tester's setup (or a
// variant of one: other ports, other transforms, UDP, IPv6 link-local and
// ULA). topoMesh puts app1 at 10.77.0.1 (web and its sidecar) and app2 at
// 10.77.0.2 (socat, its sidecar, the dev server).

// wireProbe is the claim every case makes, after topoMesh's 7 steps and
// the case's own.
const wireProbe = "  - expect: {to: web/socat, send: \"hello\\n\", reply: \"hello\\n\", wire: encrypted}\n"

// script writes an executable shell script for socat's EXEC.
func script(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// relayed is topoMesh with socat's backend on app2 replaced by relay (an
// EXEC target), and extra steps before the probe.
func relayed(relay string, extra ...string) string {
	src := strings.Replace(topoMesh("app2"), "fork EXEC:cat", "fork EXEC:"+relay, 1)
	return src + strings.Join(extra, "") + wireProbe
}

func onNode(node, step string) string { return "  - " + step + "\n    node: " + node + "\n" }

// rot13 is a transform no search for the probe's bytes would undo, and
// unbuffered (tr would hold the reply until its input ends).
const rot13 = `sed -u 'y/abcdefghijklmnopqrstuvwxyz/nopqrstuvwxyzabcdefghijklm/'`

// The node addresses the IPv6 cases add (ULA), with DAD skipped so they
// are usable at once.
const (
	ula1 = "fd77::1"
	ula2 = "fd77::2"
)

// bypassSender echoes its input and sends each chunk to the node at
// ARGV[1] (from ARGV[0]) as a UDP datagram in clear, in a frame from
// eth0's own address sent through a packet socket with
// PACKET_QDISC_BYPASS: past the node's packet taps (it needs root).
const bypassSender = `use Socket;
my ($src, $dst) = @ARGV;
my $link = qx{ip -o link show eth0};
my ($ifindex) = $link =~ /^(\d+):/ or die "no eth0: $link";
my ($mac) = $link =~ m{link/ether (\S+)} or die "no address: $link";
$mac = pack("H12", $mac =~ s/://gr);
socket(my $s, 17, SOCK_RAW, 0) or die "packet socket: $!";
setsockopt($s, 263, 20, pack("i", 1)) or die "PACKET_QDISC_BYPASS: $!";
bind($s, pack("S n i S C C a8", 17, 0, $ifindex, 0, 0, 0, "")) or die "bind: $!";
sub csum { my $b = shift; my $t = 0; $t += $_ for unpack("n*", $b); $t = ($t & 0xffff) + ($t >> 16) while $t >> 16; ~$t & 0xffff }
while (sysread(STDIN, my $data, 4096)) {
    syswrite(STDOUT, $data);
    my $udp = pack("nnnn", 40000, 9999, 8 + length $data, 0) . $data;
    my $ip = pack("CCnnnCCna4a4", 0x45, 0, 20 + length $udp, 1, 0x4000, 64, 17, 0, inet_aton($src), inet_aton($dst));
    substr($ip, 10, 2) = pack("n", csum($ip));
    send($s, ("\xff" x 6) . $mac . pack("n", 0x0800) . $ip . $udp, 0) or die "send: $!";
}
`

// reusedTuple sends each line to app1:7777 in clear from a fixed port,
// resets the connection (so that no TIME_WAIT holds the port), opens an
// empty one on the same four-tuple, and echoes the line: no privilege
// needed.
const reusedTuple = `use Socket; use IO::Socket::INET;
$| = 1;
sub conn {
    my $s = IO::Socket::INET->new(LocalAddr => "10.77.0.2", LocalPort => 40000, PeerAddr => "10.77.0.1", PeerPort => 7777, ReuseAddr => 1, Proto => "tcp") or die "connect: $@";
    print $s shift;
    select(undef, undef, undef, 0.1);
    setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0));
    close $s;
}
while (my $line = <STDIN>) { conn($line); conn(""); print $line; }
`

// mldJoiner echoes each line after joining an IPv6 multicast group on
// eth0 whose address ends in the line's first 14 bytes: the kernel's MLD
// report carries them to every node in clear (no privilege needed).
const mldJoiner = `use Socket qw(AF_INET6 SOCK_DGRAM IPPROTO_IPV6 IPV6_JOIN_GROUP pack_ipv6_mreq);
$| = 1;
my ($ifindex) = qx{ip -o link show eth0} =~ /^(\d+):/ or die "no eth0";
my @joined;
while (my $line = <STDIN>) {
    socket(my $s, AF_INET6, SOCK_DGRAM, 0) or die "socket: $!";
    my $low = substr($line, 0, 14);
    setsockopt($s, IPPROTO_IPV6, IPV6_JOIN_GROUP, pack_ipv6_mreq("\xff\x05" . ("\0" x (14 - length $low)) . $low, $ifindex)) or die "join: $!";
    push @joined, $s;
    print $line;
}
`

func TestWireFalseClaimsFail(t *testing.T) {
	needMesh(t, namespaces, testenv.Program("perl"))
	dir := t.TempDir()
	linkLocal := filepath.Join(dir, "app1-link-local")
	seen := filepath.Join(dir, "watch-saw") // the KV watch's last value
	seenTrimmed := filepath.Join(dir, "watch-saw-trimmed")
	bypass := filepath.Join(dir, "bypass.pl")
	if err := os.WriteFile(bypass, []byte(bypassSender), 0o644); err != nil {
		t.Fatal(err)
	}
	joiner := filepath.Join(dir, "mld.pl")
	if err := os.WriteFile(joiner, []byte(mldJoiner), 0o644); err != nil {
		t.Fatal(err)
	}
	reused := filepath.Join(dir, "reused.pl")
	if err := os.WriteFile(reused, []byte(reusedTuple), 0o644); err != nil {
		t.Fatal(err)
	}
	// Echo servers on app1 that are neither a proxy nor an agent.
	echo6 := onNode("app1", `run: {name: echo6, command: "socat TCP6-LISTEN:7777,bind=[`+ula1+`],reuseaddr,fork EXEC:cat", ready: "[`+ula1+`]:7777"}`)
	ula := onNode("app1", `exec: {command: "ip -6 addr add `+ula1+`/64 dev eth0 nodad"}`) +
		onNode("app2", `exec: {command: "ip -6 addr add `+ula2+`/64 dev eth0 nodad"}`)
	cases := []struct {
		name string
		src  string
		want string // in the failed step's error
		also string // and this too
	}{
		{
			// Finding 1: the backend relays every byte in clear over IPv6
			// (a ULA on the nodes' eth0) to an echo on app1.
			name: "the backend relays in clear over IPv6 (ULA)",
			src:  relayed(script(t, "relay6.sh", "exec socat - TCP6:["+ula1+"]:7777"), ula, echo6),
			want: "accounts for: tcp [" + ula2 + "]:",
			also: "with the probe's bytes in clear (to the server, at byte 0)",
		},
		{
			// Finding 1, link-local: no address added, the kernel's own;
			// rot13, so that only ownership tells.
			name: "the backend relays rot13 over IPv6 link-local",
			src: relayed(script(t, "relay-ll.sh", rot13+" | socat - TCP6:[$(cat "+linkLocal+")%eth0]:7777 | "+rot13),
				onNode("app1", `exec: {command: "for i in $(seq 100); do ip -6 -o addr show dev eth0 scope link | grep -v tentative | awk '{print $4}' | cut -d/ -f1 > `+linkLocal+`; [ -s `+linkLocal+` ] && exit 0; sleep 0.1; done; exit 1"}`),
				onNode("app1", `run: {name: echo-ll, command: "socat TCP6-LISTEN:7777,reuseaddr,fork EXEC:cat", ready: "[::]:7777"}`)),
			want: "neither TLS between the scenario's Connect proxies nor its agents' own traffic accounts for: tcp [fe80::",
		},
		{
			// Finding 2: upper-cased, to a "Consul port" on app1 held by a
			// plain socat.
			name: "the backend relays upper-cased to app1:8300 held by socat",
			src: relayed(script(t, "relay-8300.sh", `sed -u 's/.*/\U&/' | socat - TCP:10.77.0.1:8300 | sed -u 's/.*/\L&/'`),
				onNode("app1", `run: {name: fake-8300, command: "socat TCP-LISTEN:8300,bind=10.77.0.1,reuseaddr,fork EXEC:cat", ready: "10.77.0.1:8300"}`)),
			want: "→ 10.77.0.1:8300 (6 bytes out, 6 back): client 10.77.0.2:",
			also: "held by app1/fake-8300 (pid ",
		},
		{
			// Finding 2, a transform no search for the bytes finds: only
			// ownership tells this flow is nobody's the scenario trusts.
			name: "the backend relays rot13 to app1:8500 held by socat",
			src: relayed(script(t, "relay-8500.sh", rot13+" | socat - TCP:10.77.0.1:8500 | "+rot13),
				onNode("app1", `run: {name: fake-8500, command: "socat TCP-LISTEN:8500,bind=10.77.0.1,reuseaddr,fork EXEC:cat", ready: "10.77.0.1:8500"}`)),
			want: "→ 10.77.0.1:8500 (6 bytes out, 6 back): client 10.77.0.2:",
		},
		{
			// Finding 2 over UDP, rot13, to a serf port's number on app1
			// (a client agent does not hold the WAN one).
			name: "the backend relays rot13 over UDP",
			src: relayed(script(t, "relay-udp.sh", rot13+" | socat - UDP4:10.77.0.1:8302 | "+rot13),
				onNode("app1", `run: {name: udp-echo, command: "socat UDP4-RECVFROM:8302,bind=10.77.0.1,fork EXEC:cat"}`),
				onNode("app1", `exec: {command: "for i in $(seq 100); do ss -Hlun 'sport = :8302' | grep -q . && exit 0; sleep 0.05; done; exit 1"}`)),
			want: "accounts for: udp 10.77.0.2:",
		},
		{
			// The backend hands each line to an ICMPv6 echo request (what
			// ping -6 -p sends), whose reply brings it back: the echo's
			// payload is a flow's like any other.
			name: "the backend hands the probe to ICMPv6 echoes",
			src: relayed(script(t, "relay-ping6.sh", `while IFS= read -r line; do { printf '\200\000\000\000\000\011\000\001'; printf '%s\n' "$line"; } | socat -u - IP6-SENDTO:[`+ula1+`]:58; printf '%s\n' "$line"; done`),
				ula),
			want: "accounts for: icmpv6 [" + ula2 + "]:9 → [" + ula1 + "]:9 (6 bytes out, 6 back)",
			also: "with the probe's bytes in clear (to the server, at byte 0)",
		},
		{
			// The agents' own traffic is theirs, but not a hiding place: the
			// backend stores each line in the KV store (app2 runs the
			// server) before it answers, and a watch on app1 reads it back
			// through app1's agent, over the agents' RPC.
			name: "the backend hands the probe to the agents",
			src: relayed(script(t, "relay-kv.sh", `while IFS= read -r line; do printf '%s\n' "$line" | consul kv put leak - >/dev/null; printf '%s\n' "$line"; done`),
				onNode("app1", `run: {name: watcher, command: "consul watch -type=key -key=leak sh -c 'cat > `+seen+`'"}`),
				// Until the watch holds a blocking query (it saw "ready").
				onNode("app1", `exec: {command: "consul kv put leak ready && for i in $(seq 100); do grep -q cmVhZHk `+seen+` 2>/dev/null && exit 0; sleep 0.1; done; exit 1"}`)),
			want: "wire: the probe's bytes appear in clear on the wire, in the scenario's own traffic: tcp 10.77.0.1:",
			also: "sent by a consul agent of the scenario",
		},
		{
			// The same without the newline (the shell's read drops it):
			// "hello\n" is nowhere, "hello" is.
			name: "the backend hands the probe to the agents without its newline",
			src: relayed(script(t, "relay-kv-trim.sh", `while IFS= read -r line; do consul kv put leak "$line" >/dev/null; printf '%s\n' "$line"; done`),
				onNode("app1", `run: {name: watcher, command: "consul watch -type=key -key=leak sh -c 'cat > `+seenTrimmed+`'"}`),
				onNode("app1", `exec: {command: "consul kv put leak ready && for i in $(seq 100); do grep -q cmVhZHk `+seenTrimmed+` 2>/dev/null && exit 0; sleep 0.1; done; exit 1"}`)),
			want: "wire: the probe's bytes appear in clear on the wire, in the scenario's own traffic: tcp 10.77.0.1:",
		},
		{
			// The backend sends each line to app1 in clear past app2's
			// packet taps, from app2's own address: only app1 sees the
			// frame, as a copy of nothing seen leaving.
			name: "the backend sends the probe past its node's packet taps",
			src:  relayed(script(t, "relay-bypass.sh", "exec perl "+bypass+" 10.77.0.2 10.77.0.1")),
			want: "that reached node app1 by eth0, which no capture saw leave a node (sent past the node's packet taps",
			also: "from node app2's address ",
		},
		{
			// The backend sends each line to app1 in clear, then uses the
			// same four-tuple again for an empty connection: reassembled
			// against the second connection's ISN, the first's bytes fell
			// before its start and the flow seemed to carry nothing.
			name: "the backend sends the probe on a four-tuple it then uses again",
			src: relayed(script(t, "relay-reused.sh", "exec perl "+reused),
				onNode("app1", `run: {name: sink, command: "socat -u TCP-LISTEN:7777,bind=10.77.0.1,reuseaddr,fork OPEN:/dev/null", ready: "10.77.0.1:7777"}`)),
			want: "accounts for: tcp 10.77.0.2:40000 → 10.77.0.1:7777 (6 bytes out, 0 back)",
			also: "with the probe's bytes in clear (to the server, at byte 0)",
		},
		{
			// The backend joins a multicast group named after each line:
			// the kernel's MLD report, control, carried it.
			name: "the backend joins an IPv6 multicast group named after the probe",
			src:  relayed(script(t, "relay-mld.sh", "exec perl "+joiner)),
			want: "for a group the kernel does not join by itself (ff05::6865:6c6c:6f0a) (it left node app2 by eth0)",
		},
	}
	// Finding 3: the remote instance is critical, so web's sidecar picks
	// the instance on app1; a long-lived connection through the same
	// sidecar to the instance on app2, opened while it was the only one,
	// crosses the cable meanwhile.
	local := strings.Replace(topoMesh("app2"), "fork EXEC:cat", "fork SYSTEM:'sed -u s/^/far-/'", 1)
	local = strings.Replace(local, "register: "+repoRoot+"/consul.d/socat.json", "register: "+repoRoot+"/scenarios/defs/socat-ttl.hcl", 1)
	local += onNode("app1", `run: {name: background, command: "while :; do echo background; sleep 0.02; done | socat - TCP:127.0.0.1:9191"}`) +
		onNode("app1", `exec: {command: "for i in $(seq 200); do ss -Htn state established '( dport = :21000 )' | grep -q 10.77.0.2 && exit 0; sleep 0.05; done; exit 1"}`) +
		onNode("app1", `run: {name: socat, command: "socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat", ready: "127.0.0.1:8181"}`) +
		onNode("app1", "register: "+repoRoot+"/consul.d/socat.json") +
		onNode("app1", "sidecar: socat") +
		onNode("app2", "check: {id: ttl-socat, status: critical}") +
		// Until the critical instance is out of web's picks.
		"  - expect: {to: web/socat, send: \"x\\n\", reply: \"x\\n\", others-allowed: true, times: 10, within: 20s}\n" +
		wireProbe
	cases = append(cases, struct {
		name string
		src  string
		want string
		also string
	}{"the probe is answered on its own node while a connection of its sidecar crosses", local,
		"the probe was answered on node app1 itself: sidecar/web's connection for the probe went to 10.77.0.1:21001 (socat's sidecar on node app1)", ""})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			failed := topoFailsAt(t, "wire", c.src, strings.Count(c.src, "\n  - "), c.want, c.also)
			checkPcap(t, failed)
		})
	}
}

var pcapPath = regexp.MustCompile(`(/\S+/wire-\d+\.pcap)`)

// checkPcap fails unless the failure names the capture it kept, a pcap
// file with frames in it.
func checkPcap(t *testing.T, failed *runner.StepEvent) {
	t.Helper()
	m := pcapPath.FindStringSubmatch(failed.Error)
	if m == nil {
		t.Errorf("the failure names no capture:\n%s", failed.Error)
		return
	}
	f, err := os.Open(m[1])
	if err != nil {
		t.Errorf("the capture it names: %v", err)
		return
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Errorf("the capture %s is no pcap: %v", m[1], err)
		return
	}
	frames := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
		frames++
	}
	if frames == 0 {
		t.Errorf("the capture %s holds no frame", m[1])
	}
}

// Finding 4: a backend that answers and closes (HTTP/1.0 style) carries
// the probe across nodes as TLS; the claim is true and passes, naming the
// probe's own connection, which was gone by the time the reply was read.
func TestWireTrueRequestResponseClaimsPass(t *testing.T) {
	needMesh(t, namespaces)
	http10 := script(t, "http10.sh", `read -r line; printf 'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhi\n'`)
	cases := []struct{ name, src string }{
		{"a line, answered and closed", strings.Replace(topoMesh("app2"), "fork EXEC:cat", "fork SYSTEM:'head -n1'", 1) + wireProbe},
		{"an HTTP/1.0 request, three times", strings.Replace(topoMesh("app2"), "fork EXEC:cat", "fork EXEC:"+http10, 1) +
			"  - expect: {to: web/socat, send: \"GET / HTTP/1.0\\r\\n\\r\\n\", reply-prefix: \"HTTP/1.0 200 OK\", wire: encrypted, times: 3}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			topoSlot(t)
			r := runTopo(t, nil, writeTopo(t, "wire-true", c.src))
			t.Logf("%s in %s", c.name, r.took.Round(100*time.Millisecond))
			if r.exit != 0 {
				t.Fatalf("exit %d, want 0\n%s", r.exit, r.out)
			}
			var note string
			for _, ev := range r.events {
				if ev.Event == "step-end" && ev.Step != nil && ev.Step.Index == 8 {
					note = strings.Join(ev.Step.Notes, "\n")
				}
			}
			if !strings.Contains(note, "the probe's own connection(s) crossed as TLS records only, between sidecar/web and a Connect sidecar of socat: tcp 10.77.0.1:") {
				t.Errorf("the note does not name the probe's own connection:\n%s", note)
			}
		})
	}
}
