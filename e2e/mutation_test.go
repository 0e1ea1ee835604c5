package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/runner"
)

// Mutation testing of the verdicts: every claim a shipped scenario makes is
// broken in the way the claim is meant to catch, and the run must FAIL
// (exit 1) at the step that makes the claim, naming the cause. A mutant
// that passes is a false PASS: the tool said the mesh did something it did
// not do.

// mutant is one way of breaking the mesh behind a scenario.
type mutant struct {
	name string
	// impostor, when set, is a port a foreign process (this test) listens
	// on, with an echo server, for the whole run.
	impostor int
	// edit changes the scenario's text.
	edit func(src string) string
	// failAt lists the steps (from 1, in the mutated file) at which the run
	// may fail; the first is where the claim is made.
	failAt []int
	// want is a part of the failed step's error that names the cause.
	want string
	// wantAt names the cause instead of want when the run fails at that
	// step: a claim made before the first of failAt that also rests on
	// what the mutant broke, which load can make fail first.
	wantAt map[int]string
	// orWant are other causes the failure may name instead of want: a
	// race in the mesh decides which piece of contrary evidence the
	// runner meets first.
	orWant []string
}

// killListener is a shell command that kills, from outside the runner,
// the process listening on port: the way a crash or an operator would.
// SIGKILL lands asynchronously, so the step after the kill or the one after
// that is the first to see the death.
func killListener(port int) string {
	return fmt.Sprintf(`kill -KILL $(ss -Hltnp 'sport = :%d' | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)`, port)
}

// insertAfter inserts step items (YAML lines, indented as list items) after
// the step whose text contains marker.
func insertAfter(marker string, items ...string) func(string) string {
	return func(src string) string {
		lines := strings.Split(src, "\n")
		for i, l := range lines {
			if !strings.Contains(l, marker) {
				continue
			}
			// The step item ends where the next item or the file ends.
			end := i + 1
			for end < len(lines) && !strings.HasPrefix(lines[end], "  - ") && strings.TrimSpace(lines[end]) != "" {
				end++
			}
			out := append(append(slices.Clone(lines[:end]), items...), lines[end:]...)
			return strings.Join(out, "\n")
		}
		panic("no step contains " + marker)
	}
}

func replace(old, new string) func(string) string {
	return func(src string) string {
		if !strings.Contains(src, old) {
			panic("the scenario has no " + old)
		}
		return strings.ReplaceAll(src, old, new)
	}
}

func chain(edits ...func(string) string) func(string) string {
	return func(src string) string {
		for _, e := range edits {
			src = e(src)
		}
		return src
	}
}

func mutants() map[string][]mutant {
	exec := func(cmd string) string { return fmt.Sprintf("  - exec: {command: %q}", cmd) }
	// flap starts a process that flips the intention web -> socat between
	// two actions, each held for its seconds, until the run ends.
	flap := func(first, firstFor, second, secondFor string) string {
		script := filepath.Join(repoRoot, "testdata", "e2e", "flap-intention.sh")
		return fmt.Sprintf("  - run: {name: flapper, command: %q}", fmt.Sprintf("bash %s web socat %s %s %s %s", script, first, firstFor, second, secondFor))
	}
	consul := func(args string) string { return exec(consulBin + " " + args) }
	common := []mutant{
		{name: "impostor on socat's ready port 8181", impostor: 8181, failAt: []int{4}, want: "127.0.0.1:8181 is already in use: pid"},
		{name: "impostor on socat's sidecar public port 21000", impostor: 21000, failAt: []int{5}, want: "21000 is already in use: pid"},
		{name: "impostor on web's sidecar public port 21001", impostor: 21001, failAt: []int{6}, want: "21001 is already in use: pid"},
		{name: "impostor on web's upstream port 9191", impostor: 9191, failAt: []int{6}, want: "127.0.0.1:9191 is already in use: pid"},
		{name: "backend accepts and closes", edit: replace("EXEC:cat", "EXEC:true")},
		{name: "backend answers with extra bytes", edit: replace("EXEC:cat", "EXEC:'sed -u p'"), want: "more (use reply-prefix if more is fine)"},
	}
	basic := append(slices.Clone(common),
		mutant{name: "backend killed mid-run", edit: insertAfter("sidecar: web", exec(killListener(8181))),
			failAt: []int{7, 8, 9}, want: `process "socat" is not running`},
		mutant{name: "socat's sidecar killed mid-run", edit: insertAfter("sidecar: web", exec(killListener(21000))),
			failAt: []int{7, 8, 9}, want: `process "sidecar/socat" is not running`},
		mutant{name: "an echo on web's upstream port instead of web's sidecar", edit: replace("  - sidecar: web\n",
			"  - run: {name: echo-9191, command: \"socat TCP-LISTEN:9191,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: 127.0.0.1:9191}\n"),
			failAt: []int{9}, want: "no sidecar of web runs in this scenario"},
		mutant{name: "socat listens on every address", edit: replace("bind=127.0.0.1", "bind=0.0.0.0"),
			failAt: []int{7}, want: "socat listens beyond loopback on 0.0.0.0:8181"},
		// A child that left socat's process group, on UDP: the family and
		// UDP both count. The shell waits until it is bound (0x1FF8 = 8184).
		mutant{name: "a setsid'd child of socat's on UDP 0.0.0.0", edit: replace("command: socat -v TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat",
			`command: sh -c 'setsid socat UDP-RECVFROM:8184,fork EXEC:cat & until grep -q ":1FF8 " /proc/net/udp; do :; done; exec socat -v TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat'`),
			failAt: []int{7}, want: "socat listens beyond loopback on udp 0.0.0.0:8184"},
		// A member of socat's family (same group, same environment) in a
		// network namespace of its own: every namespace of the family is
		// read. The shell waits until it is bound (0x2124 = 8484).
		mutant{name: "a member of socat's family on 0.0.0.0 in another network namespace", edit: replace("command: socat -v TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat",
			`command: sh -c 'unshare --net socat TCP-LISTEN:8484,bind=0.0.0.0,reuseaddr,fork EXEC:cat & until grep -q ":2124 " /proc/$!/net/tcp; do :; done; exec socat -v TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat'`),
			failAt: []int{7}, want: "socat listens beyond loopback on 0.0.0.0:8484 in network namespace net:["},
		// A member of socat's family binds 0.0.0.0 in a namespace of its
		// own and leaves it for another (unshare --net, the listener kept
		// open): the socket is judged in the namespace it was made in,
		// which no member is in. The shell waits until it has left (sleep).
		mutant{name: "a member of socat's family bound 0.0.0.0 in a namespace and left it", edit: replace("command: socat -v TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat",
			`command: sh -c 'unshare --net perl -MSocket -e "\$^F = 100; socket(S, PF_INET, SOCK_STREAM, 0) and bind(S, pack_sockaddr_in(8485, INADDR_ANY)) and listen(S, 5) or die; exec qw(unshare --net sleep 600)" & until grep -qx sleep /proc/$!/comm; do :; done; exec socat -v TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat'`),
			failAt: []int{7}, want: "socat listens beyond loopback on 0.0.0.0:8485 in network namespace net:["},
	)
	// The cert probe of step 8 also needs socat to answer: the built-in
	// proxy dials it before the handshake, and drops the probe when socat
	// closes first (seen in make test at load 20); the probe then reads
	// EOF, or a reset when the proxy closes with the hello unread.
	basic[4].failAt, basic[4].want = []int{9, 8}, "with no reply"
	basic[4].wantAt = map[int]string{8: "(the built-in proxy dials its local service before the TLS handshake and drops the connection when the service does not answer"}
	basic[5].failAt = []int{9}

	intentions := append(slices.Clone(common),
		mutant{name: "backend killed mid-run", edit: insertAfter("conn: long-lived, reply-prefix: \"one", exec(killListener(8181))),
			failAt: []int{10, 11, 12}, want: `process "socat" is not running`},
		mutant{name: "web's sidecar killed mid-run", edit: insertAfter("conn: long-lived, reply-prefix: \"one", exec(killListener(21001))),
			failAt: []int{10, 11, 12}, want: `process "sidecar/web" is not running`},
		mutant{name: "the deny undone behind the runner's back", edit: insertAfter("action: deny}", consul("intention delete web socat")),
			failAt: []int{12}, want: `expected the mesh to deny the connection from web/socat`},
		// closed: true passes both of these: the connection ends with no
		// reply although the mesh allows it. Only the evidence fails them.
		mutant{name: "the deny undone and the backend stopped", edit: insertAfter("action: deny}", "  - stop: socat", consul("intention delete web socat")),
			failAt: []int{13}, want: `the mesh authorizes web -> socat`},
		mutant{name: "the deny undone and a backend that closes on the probe's bytes",
			edit: chain(
				replace("EXEC:cat", `SYSTEM:'read l; echo $l | grep -q ^denied && exit; echo $l; exec cat'`),
				insertAfter("action: deny}", consul("intention delete web socat"))),
			failAt: []int{12}, want: `the mesh authorizes web -> socat`},
		mutant{name: "the long-lived connection cut by a sidecar restart", edit: insertAfter("action: deny}", "  - stop: sidecar/web", "  - sidecar: web"),
			failAt: []int{15, 16}, want: "long-lived"},
		mutant{name: "the allow undone behind the runner's back", edit: insertAfter("action: allow}", exec(consulBin+" intention delete web socat && "+consulBin+" intention create -deny web socat")),
			failAt: []int{17}, want: `expected a reply starting with "after\n"`},
		// Issue 18, finding 8: a process flips the intention between allow
		// (1.5 s) and deny (0.3 s). The claim sees both outcomes, whatever
		// the phase it starts in: the other one before its own first holds
		// (propagation) and after it (contrary evidence), or its own at once
		// and the other within the settle window.
		// When the allow lands between a close and the evidence gathered
		// for it, the evidence says so (and waits out the step on the
		// sidecar that now accepts the source's certificate).
		mutant{name: "the intention flaps (allow 1.5 s, deny 0.3 s) under denied: true", edit: insertAfter("action: deny}", flap("allow", "1.5", "deny", "0.3")),
			failAt: []int{12}, want: "once it has held fails the step", orWant: []string{"the mesh authorizes web -> socat (Matched L4 intention: default/web => default/socat (Precedence: 9, Action: ALLOW))",
				// The allow landed between the probe's close and its evidence.
				"that was not the mesh denying it: the sidecar of socat on 127.0.0.1:21000 accepted the source's certificate"}},
		mutant{name: "the intention flaps (allow 1.5 s, deny 0.3 s) under allowed: false", edit: insertAfter("denied: true, within: 10s}", flap("allow", "1.5", "deny", "0.3")),
			failAt: []int{13}, want: "once it has held fails the step"},
		// A claim's settle window runs while the steps after it that only
		// look do: an allow that lands during the watch still fails the
		// watched step (or, when the deny came too late to be seen at all,
		// it never held).
		mutant{name: "the deny undone 0.2 s in, while the steps after the denied claim run beside its watch", edit: insertAfter("action: deny}", flap("deny", "0.2", "allow", "60")),
			failAt: []int{12}, want: "once it has held fails the step", orWant: []string{"expected the mesh to deny the connection from web/socat"}},
		// The exact reply's quiet window runs while the steps after it do:
		// bytes that come within it still fail the step that claimed it.
		mutant{name: "more bytes a moment after the long-lived connection's exact reply",
			edit:   replace("EXEC:cat", `SYSTEM:'while read -r l; do echo "$l"; [ "$l" = two ] && sleep 0.01 && echo extra; done'`),
			failAt: []int{14}, want: `got "two\nextra\n": the expected bytes, then "extra\n" more`},
	)
	intentions[4].failAt, intentions[4].want = []int{7}, "with no reply"
	// The replies before the long-lived connection's last are prefixes:
	// the doubled "one" is left on the connection, ahead of "two" (and of
	// the doubled "two" when the probe reads after it came).
	intentions[5].failAt, intentions[5].want = []int{14}, `expected reply "two\n" on connection long-lived to web/socat; got "one\n`
	echo := `socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat`
	return map[string][]mutant{
		"scenarios/basic.yaml":      basic,
		"scenarios/intentions.yaml": intentions,
		// The library's own claims, broken one each.
		"scenarios/health-instances.yaml": {
			// The health catalog says so first, then the probes would.
			{name: "instance 2 never goes critical", edit: replace("{id: ttl-socat-2, status: critical}", "{id: ttl-socat-2, status: passing}"),
				failAt: []int{12}, want: "expected instance socat-2 of socat critical within 10s; 1 of 1 not critical: socat-2 on node"},
			{name: "instance 2 never goes critical, unasked of the catalog", edit: chain(
				replace("{id: ttl-socat-2, status: critical}", "{id: ttl-socat-2, status: passing}"),
				replace("    expect: {health: socat-2, status: critical}\n", "    exec: {command: \"true\"}\n")),
				failAt: []int{13}, want: "20 times in a row"},
			{name: "instance 1 in maintenance when every instance should pass", edit: insertAfter("{id: ttl-socat-2, status: passing}", consul("maint -enable -service socat-1")),
				failAt: []int{16}, want: "_service_maintenance:socat-1"},
			{name: "instance 2 answers as instance 1", edit: replace("s/^/two-/", "s/^/one-/"),
				failAt: []int{10}, want: `expected reply "two-b\n"`},
		},
		"scenarios/l7-intentions-deny.yaml": {
			{name: "an L4 allow instead of the L7 permissions", edit: replace("            Permissions:\n              - Action: allow\n                HTTP: {PathPrefix: /}\n", "            Action: allow\n"),
				// The allowed path then fails before the evidence can speak
				// (the proxy's dial to 9191 times out after the protocol
				// change), but never passes.
				failAt: []int{10}, want: "expected the mesh to deny the connection"},
		},
		"scenarios/resolver-ignored.yaml": {
			{name: "socat answers as socat2 would, as if the redirect worked", edit: insertAfter("Kind: service-resolver",
				"  - stop: socat", "  - run: {name: socat-redirected, command: \"socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork SYSTEM:'sed -u s/^/socat2-/'\", ready: 127.0.0.1:8181}"),
				failAt: []int{15}, want: `got "socat2-who?\n"`},
		},
		"scenarios/dead-backend.yaml": {
			{name: "another echo takes the dead backend's port", edit: insertAfter("  - stop: socat", "  - run: {name: other-echo, command: \""+echo+"\", ready: 127.0.0.1:8181}"),
				failAt: []int{10}, want: "got reply"},
		},
		"scenarios/sidecar-restart.yaml": {
			{name: "the sidecar is not stopped", edit: chain(replace("  - stop: sidecar/socat", "  - exec: {command: \"true\"}"), replace("  - sidecar: socat\n  - name: traffic flows", "  - exec: {command: \"true\"}\n  - name: traffic flows")),
				failAt: []int{11}, want: "still open"},
		},
		"scenarios/connect-native-client.yaml": {
			{name: "the deny names api instead of web", edit: replace("{source: web, destination: socat, action: deny}", "{source: api, destination: socat, action: deny}"),
				failAt: []int{8}, want: `got reply "x\n"`},
		},
		"scenarios/acl-service-identities.yaml": {
			{name: "web registered with its own token where api's is claimed", edit: replace("$SCENARIO_TOKEN_API_TOKEN", "$SCENARIO_TOKEN_WEB_TOKEN"),
				failAt: []int{5}, want: "exit status"},
			{name: "an allow for api too", edit: insertAfter("{source: web, destination: socat, action: allow}", "  - set-intention: {source: api, destination: socat, action: allow}"),
				failAt: []int{17}, want: `got reply "api\n"`},
			{name: "the table's leaves asked with web's token, which may not get api's", edit: replace("        rogue: {socat: deny}\n      within: 10s\n", "        rogue: {socat: deny}\n      within: 10s\n      token: web-token\n"),
				failAt: []int{17}, want: "api -> socat: not probed: the agent gave no leaf certificate for api"},
		},
		"scenarios/connect-timeout-ignored.yaml": {
			{name: "socat's node never cut off", edit: replace("  - disconnect: app2\n", ""),
				failAt: []int{11}, want: `expected the connection to stay open with nothing back for 9.5s on connection blackholed to web/socat; got "x\n" after`},
		},
		"scenarios/handshake-timeout-ignored.yaml": {
			// Five bytes or more: the sidecar waits for a whole TLS record header.
			{name: "the client speaks plaintext at once", edit: replace(`conn: idle, held-by: sidecar/socat}`, `conn: idle, held-by: sidecar/socat, data: "hello\n"}`),
				failAt: []int{6}, want: "the connection was closed by the peer"},
			{name: "the listener claimed for socat itself", edit: replace(`conn: idle, held-by: sidecar/socat}`, `conn: idle, held-by: socat}`),
				failAt: []int{5}, want: "held-by: expected socat to hold the listener that takes connections to 127.0.0.1:21000, but pid"},
		},
		"scenarios/sidecar-port-change-needs-restart.yaml": {
			{name: "the sidecar restarted with its new registration", edit: insertAfter("socat-sidecar-21010.json", "  - stop: sidecar/socat", "  - sidecar: socat"),
				failAt: []int{11}, want: `got reply "b\n"`},
		},
		// The truth table's claims: a cell declared wrong, intentions
		// changed behind the runner's back, leaves the token may not get,
		// and an instance whose "sidecar" does not enforce.
		"scenarios/deny-all-allow-one.yaml": {
			{name: "one wrong declared cell", edit: replace("api:   {socat: deny,  web: deny, api: deny}", "api:   {socat: allow, web: deny, api: deny}"),
				failAt: []int{19}, want: "api -> socat: observed deny, declared allow"},
			{name: "the deny-all deleted behind the runner's back", edit: insertAfter("every other path stays closed", consul("intention delete '*' '*'")),
				failAt: []int{20}, want: "api -> socat: observed allow, declared deny"},
		},
		"scenarios/intention-precedence.yaml": {
			{name: "the wildcard deny deleted behind the runner's back", edit: insertAfter("{source: api, destination: socat}, allowed: false", consul("intention delete '*' socat")),
				failAt: []int{20}, want: "api -> socat: observed allow, declared deny"},
		},
		"scenarios/reachability-across-nodes.yaml": {
			{name: "app3's sidecar replaced by a TLS server with socat's leaf that enforces nothing",
				edit:   replace("  - {sidecar: socat, node: app3}\n", "  - run: {name: lax-sidecar, command: \"sh "+filepath.Join(repoRoot, "testdata", "e2e", "lax-sidecar.sh")+" socat 21000 127.0.0.1:8181\", ready: \"app3:21000\"}\n    node: app3\n"),
				failAt: []int{15}, want: "api -> socat: split: the instances disagree"},
		},
		"scenarios/prepared-query-upstream.yaml": {
			{name: "the query selects a service with no instance", edit: replace("{name: socat-pq, service: socat}", "{name: socat-pq, service: nosuch}"),
				failAt: []int{8}, want: "with no reply"},
		},
	}
}

func TestMutantsOfTheShippedScenariosAllFail(t *testing.T) {
	needMesh(t, append(testenv.Programs("setsid", "unshare", "curl", "perl"), namespaces)...)
	all := mutants()
	var files []string
	for f := range all {
		files = append(files, f)
	}
	slices.Sort(files)
	caught := map[string]*atomic.Int32{}
	sources := map[string]string{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// Mutated copies live elsewhere: their relative paths must still
		// reach consul.d and the library's definitions.
		src := strings.ReplaceAll(string(raw), "../consul.d/", filepath.Join(repoRoot, "consul.d")+"/")
		src = strings.ReplaceAll(src, "file: defs/", "file: "+filepath.Join(repoRoot, "scenarios", "defs")+"/")
		sources[file] = strings.ReplaceAll(src, "register: defs/", "register: "+filepath.Join(repoRoot, "scenarios", "defs")+"/")
		caught[file] = new(atomic.Int32)
	}
	// Mutants with an impostor share this test's network namespace (the
	// impostor listens in it) and run one by one. The others run two at a
	// time, each in a network namespace of its own, when that is allowed.
	isolated := os.Geteuid() == 0 && exec.Command("unshare", "--net", "true").Run() == nil
	t.Run("mutants", func(t *testing.T) {
		for _, file := range files {
			for _, m := range all[file] {
				t.Run(filepath.Base(file)+"/"+m.name, func(t *testing.T) {
					own := isolated && m.impostor == 0
					if own {
						t.Parallel()
					}
					if runMutant(t, sources[file], m, own) {
						caught[file].Add(1)
					}
				})
			}
		}
	})
	assertNothingLeft(t)
	for _, file := range files {
		t.Logf("mutation score of %s: %d/%d mutants caught", file, caught[file].Load(), len(all[file]))
	}
}

// runMutant runs one mutant and reports whether the run failed as it must.
func runMutant(t *testing.T, src string, m mutant, ownNetns bool) bool {
	if m.edit != nil {
		src = m.edit(src)
	}
	src = shortenWithin(t, src, m.failAt)
	if !strings.Contains(src, "TCP-LISTEN:") {
		t.Fatalf("the mutant lost the backend:\n%s", src)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "mutant.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := func() {}
	if m.impostor != 0 {
		stop = impostor(t, m.impostor)
	}
	failed, exit, out := runJSON(t, dir, file, ownNetns)
	stop()
	if !ownNetns {
		assertNothingLeft(t)
	}
	if exit != 1 || failed == nil {
		t.Errorf("FALSE PASS: the mutant ran with exit status %d, want 1 (failed at a step)\n%s\n%s", exit, src, out)
		return false
	}
	ok := true
	if !slices.Contains(m.failAt, failed.Index) {
		t.Errorf("failed at step %d (%s %s), want one of %v: %s", failed.Index, failed.Type, failed.Label, m.failAt, failed.Error)
		ok = false
	}
	want := m.want
	if w, ok := m.wantAt[failed.Index]; ok {
		want = w
	}
	if !strings.Contains(failed.Error, want) && !slices.ContainsFunc(m.orWant, func(w string) bool { return strings.Contains(failed.Error, w) }) {
		t.Errorf("the failure does not name the cause %q:\n%s", want, failed.Error)
		ok = false
	}
	return ok
}

// mutantWithin is the within of the steps at which a mutant must fail: a
// mutant fails by running out of time where the claim is eventual, and
// the claim is the same with a shorter wait.
const mutantWithin = "within: 3s"

// shortenWithin gives the steps numbered in failAt (from 1, as the runner
// numbers them) the within mutantWithin, and leaves every other step's
// alone: the steps before them must pass, under the mutant as without it,
// and a shorter wait makes them fail where the mesh is only slow (the
// built-in proxy routes to a critical instance for a few seconds after the
// catalog says critical, and load stretches each attempt).
func shortenWithin(t *testing.T, src string, failAt []int) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("the mutant is not a YAML mapping (%v):\n%s", err, src)
	}
	lines := strings.Split(src, "\n")
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value != "steps" || top[i+1].Kind != yaml.SequenceNode {
			continue
		}
		// A step's text runs from its line to the next step's, or to the
		// next top-level key's, or to the end.
		end := len(lines) + 1
		if i+2 < len(top) {
			end = top[i+2].Line
		}
		items := top[i+1].Content
		for _, n := range failAt {
			if n < 1 || n > len(items) {
				t.Fatalf("failAt names step %d; the mutant has %d steps", n, len(items))
			}
			last := end
			if n < len(items) {
				last = items[n].Line
			}
			for l := items[n-1].Line - 1; l < last-1; l++ {
				lines[l] = withinPattern.ReplaceAllString(lines[l], mutantWithin)
			}
		}
		return strings.Join(lines, "\n")
	}
	t.Fatalf("the mutant has no steps:\n%s", src)
	return ""
}

// withinPattern is a within longer than mutantWithin, as the shipped
// scenarios write it.
var withinPattern = regexp.MustCompile(`within: (10|15)s\b`)

// impostor listens on port with an echo server until stop is called.
func impostor(t *testing.T, port int) (stop func()) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("impostor on %d: %v", port, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return func() {
		l.Close()
		<-done
	}
}

// runJSON runs a scenario file with --json and returns the failed step.
func runJSON(t *testing.T, dir, file string, ownNetns bool) (*runner.StepEvent, int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{scenarioBin, "run", "--json", "--logs", filepath.Join(dir, "logs"), "--consul", consulBin, file}
	if ownNetns {
		// Its own loopback, so that it can run beside another mutant.
		args = append([]string{"unshare", "--net", "sh", "-c", `ip link set lo up && exec "$@"`, "sh"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exit := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		exit = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running scenario: %v", err)
	}
	var failed *runner.StepEvent
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev runner.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "step-end" && ev.Step.Outcome == runner.OutcomeFailed {
			failed = ev.Step
		}
	}
	return failed, exit, stdout.String() + stderr.String()
}

func TestShortenWithinShortensOnlyTheStepsAMutantMustFailAt(t *testing.T) {
	needScenarioOnly(t) // Go alone: it edits text
	src := `name: s
steps:
  - start-agent: {}
  - expect: {to: web/socat, reply: "a\n", within: 10s}
  - name: the claim
    expect: {to: web/socat, reply: "b\n", times: 20, within: 15s}
  - expect:
      reachability: {web: {socat: allow}}
      within: 10s
description: >-
  within: 10s here is not a step's
`
	got := shortenWithin(t, src, []int{3, 4})
	want := strings.NewReplacer(`times: 20, within: 15s`, `times: 20, within: 3s`, "      within: 10s", "      within: 3s").Replace(src)
	if got != want {
		t.Errorf("shortened\n%s\nwant\n%s", got, want)
	}
	if got := shortenWithin(t, src, []int{2}); !strings.Contains(got, `reply: "a\n", within: 3s}`) || strings.Count(got, "within: 3s") != 1 {
		t.Errorf("failAt 2 shortened\n%s", got)
	}
}
