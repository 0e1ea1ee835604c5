package e2e

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/internal/testenv"
)

// answerScript is an HTTP server's reply to one request, read up to its
// blank line, for socat's EXEC.
func answerScript(status, headers, body string) string {
	return "#!/bin/sh\nsed -u '/^\\r*$/q' >/dev/null\nprintf '" + "HTTP/1.0 " + status + "\\r\\n" + headers + "Content-Length: " +
		itoa(len(body)) + "\\r\\n\\r\\n" + body + "'\n"
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		if n /= 10; n == 0 {
			return s
		}
	}
}

// A definition's fields that the api type drops reach the agent: an HTTP
// check with disable_redirects takes a redirect as its answer (critical,
// "302 Found"), while the same check without it follows the redirect to
// a 2xx (passing); a TTL check's output_max_size cuts what a check step
// sets; an H2 ping check with h2ping_use_tls = false pings in clear
// (left out, Consul's default is TLS); weights that give only warning
// register (passing defaults to 1, as in a config file: the api type
// sent 0, which the agent refuses). Unnamed check and checks get the IDs
// the agent gives a config file's (checks first), which the register
// step's read-back of the agent's checks confirms.
func TestRegisterKeepsTheFieldsTheAPITypeDrops(t *testing.T) {
	needMesh(t, testenv.Program("curl"), testenv.Program("sed"))
	dir := t.TempDir()
	// An HTTP/2 server in clear (prior knowledge), which answers pings.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h2c := &http.Server{Handler: http.NotFoundHandler(), Protocols: new(http.Protocols)}
	h2c.Protocols.SetHTTP1(true)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = h2c.Serve(ln) }()
	t.Cleanup(func() { _ = h2c.Close() })
	writeScenario(t, dir, "redirect.sh", answerScript("302 Found", "Location: http://127.0.0.1:8284/\\r\\n", ""))
	writeScenario(t, dir, "ok.sh", answerScript("200 OK", "", "ok"))
	file := writeScenario(t, dir, "kept.yaml", `name: kept
steps:
  - start-agent: {args: [-hcl, 'performance { rpc_hold_timeout = "1s" }']}
  - run: {name: redirector, command: "socat TCP-LISTEN:8283,bind=127.0.0.1,reuseaddr,fork EXEC:'sh ./redirect.sh'", ready: 127.0.0.1:8283}
  - run: {name: target, command: "socat TCP-LISTEN:8284,bind=127.0.0.1,reuseaddr,fork EXEC:'sh ./ok.sh'", ready: 127.0.0.1:8284}
  - register:
      services:
        - name: follows
          port: 8283
          checks: [{id: follows-redirect, http: "http://127.0.0.1:8283/", interval: 1s}]
        - name: stops
          port: 8283
          weights: {warning: 3}
          checks: [{id: stops-at-redirect, http: "http://127.0.0.1:8283/", interval: 1s, disable_redirects: true}]
        - name: short
          port: 8285
          checks: [{id: short-output, ttl: 10m, output_max_size: 10}]
        - name: pinged
          port: 8286
          checks: [{id: h2c-ping, h2ping: "`+ln.Addr().String()+`", h2ping_use_tls: false, interval: 1s}]
        - name: ordered
          port: 8287
          check: {name: "the check", ttl: 10m}
          checks: [{name: "the first of checks", ttl: 10m}]
  - name: the check that follows redirects reaches the 2xx
    expect: {health: follows, status: passing, within: 10s}
  # A check is critical until its first run, which Consul staggers within
  # its interval: the agent's output says it ran and took the redirect.
  - name: the check with disable_redirects takes the redirect as its answer
    timeout: 10s
    exec:
      command: |
        until out=$(curl -sf 'http://127.0.0.1:8500/v1/agent/checks?filter=CheckID=="stops-at-redirect"') && [ "${out#*302 Found}" != "$out" ]; do sleep 0.05; done
        echo "$out"
      stdout: '"Status":\s*"critical",[^}]*"Output":\s*"HTTP GET http://127\.0\.0\.1:8283/: 302 Found'
  - name: so the health catalog has stops critical
    expect: {health: stops, status: critical}
  - name: the registration has the weights given, passing defaulted as in a config file
    exec: {command: "curl -sf http://127.0.0.1:8500/v1/agent/service/stops", stdout: '"Weights":\s*\{\s*"Passing":\s*1,\s*"Warning":\s*3\s*\}'}
  - check: {id: short-output, status: warning, note: "0123456789 and what the output_max_size cuts off"}
  - name: the H2 ping check pings in clear, as h2ping_use_tls = false says
    timeout: 10s
    exec:
      command: |
        until out=$(curl -sf 'http://127.0.0.1:8500/v1/agent/checks?filter=CheckID=="h2c-ping"') && [ "${out#*successful}" != "$out" ]; do sleep 0.05; done
        echo "$out"
      stdout: '"Status":\s*"passing",[^}]*"Output":\s*"HTTP2 ping was successful"'
  - name: the agent numbers checks before check
    exec: {command: "curl -sf http://127.0.0.1:8500/v1/agent/checks", stdout: '"service:ordered:1":\s*\{[^}]*"Name":\s*"the first of checks"'}
  - name: the TTL check's output is cut at its output_max_size
    exec: {command: "curl -sf 'http://127.0.0.1:8500/v1/agent/checks?filter=CheckID==\"short-output\"'", stdout: '"Output":\s*"0123456789 \.\.\. \(captured 10 of 48 bytes\)"'}
`)
	r := scenario(t, "run", file)
	r.mustExit(t, 0)
	outputHas(t, "output", r.stdout, "--- PASS kept")
}

// An os_service check is refused where it is written: Consul checks OS
// services on Windows only, and the runner's agents run on Linux (the
// agent would refuse the registration, "not implemented").
func TestAnOSServiceCheckIsRefusedAtItsKey(t *testing.T) {
	needScenarioOnly(t)
	dir := t.TempDir()
	writeScenario(t, dir, "svc.hcl", "service {\n  name = \"svc\"\n  check {\n    os_service = \"sshd\"\n    interval = \"10s\"\n  }\n}\n")
	file := writeScenario(t, dir, "os.yaml", "name: os\nsteps:\n  - start-agent: {}\n  - register: svc.hcl\n")
	r := scenario(t, "validate", file)
	r.mustExit(t, 2)
	want := file + ":4:15: register: " + filepath.Join(dir, "svc.hcl") + ":4:5: service.check.os_service: Consul checks OS services on Windows only"
	if !strings.Contains(r.stdout+r.stderr, want) {
		t.Errorf("want %q in:\n%s%s", want, r.stdout, r.stderr)
	}
}

// A sidecar_service's own token registers the sidecar, as the agent
// does for a config file: the instance's token may write web only, the
// sidecar's also web-sidecar-proxy. Before, the sidecar was registered
// with the instance's token, which the agent refused.
func TestRegisterGivesTheSidecarItsOwnToken(t *testing.T) {
	needMesh(t, testenv.Program("curl"))
	const management, webOnly, sidecar = "0c9a4f6e-3b2d-4e8f-9a1c-5d7e2f4b6a80", "1d0b5a7f-4c3e-4f9a-8b2d-6e8f3a5c7b91", "2e1c6b8a-5d4f-4a0b-9c3e-7f9a4b6d8c02"
	dir := t.TempDir()
	file := writeScenario(t, dir, "sidecar-token.yaml", `name: sidecar-token
steps:
  - start-agent:
      args: [-hcl, 'acl { enabled = true
                     default_policy = "deny"
                     tokens { initial_management = "`+management+`"
                              agent = "`+management+`" } }',
             -hcl, 'performance { rpc_hold_timeout = "1s" }']
  - name: a token that may write web only, and one that may also write its sidecar
    exec:
      command: |
        consul acl policy create -name web-only -rules 'service "web" { policy = "write" }' >/dev/null &&
        consul acl token create -secret `+webOnly+` -policy-name web-only >/dev/null &&
        consul acl policy create -name web-sidecar -rules 'service_prefix "web" { policy = "write" }' >/dev/null &&
        consul acl token create -secret `+sidecar+` -policy-name web-sidecar >/dev/null
  - register:
      service:
        name: web
        port: 9090
        token: `+webOnly+`
        connect: {sidecar_service: {token: `+sidecar+`}}
  - name: the agent has the sidecar
    exec: {command: "curl -sf -H 'X-Consul-Token: `+management+`' http://127.0.0.1:8500/v1/agent/service/web-sidecar-proxy", stdout: '"Service":\s*"web-sidecar-proxy"'}
`)
	r := scenario(t, "run", file)
	r.mustExit(t, 0)
	outputHas(t, "output", r.stdout, "--- PASS sidecar-token")
	if strings.Contains(r.stdout+r.stderr, sidecar) {
		t.Errorf("the sidecar's token was printed:\n%s%s", r.stdout, r.stderr)
	}
}

// A transparent proxy's upstreams, as the agent shows them, include
// those central config names (service-defaults' upstream_config), which
// the agent adds after the definition's: the register step's read-back
// does not take them for a disagreement with the definition.
func TestRegisterOfATransparentProxyAcceptsUpstreamsCentralConfigAdds(t *testing.T) {
	needMesh(t, testenv.Program("curl"))
	dir := t.TempDir()
	writeScenario(t, dir, "web-defaults.hcl", `Kind = "service-defaults"
Name = "web"
UpstreamConfig { Overrides = [{ Name = "cache", ConnectTimeoutMs = 1000 }] }
`)
	file := writeScenario(t, dir, "tproxy.yaml", `name: tproxy
steps:
  - start-agent: {args: [-hcl, 'performance { rpc_hold_timeout = "1s" }']}
  - exec: {command: "consul config write web-defaults.hcl"}
  - register:
      service:
        name: web
        port: 9090
        connect: {sidecar_service: {proxy: {mode: transparent, upstreams: [{destination_name: db, local_bind_port: 9191}]}}}
  - name: the agent added cache to the sidecar's upstreams, after db
    exec: {command: "curl -sf http://127.0.0.1:8500/v1/agent/service/web-sidecar-proxy", stdout: '"DestinationName":\s*"db"[\s\S]*"DestinationName":\s*"cache"'}
`)
	r := scenario(t, "run", file)
	r.mustExit(t, 0)
	outputHas(t, "output", r.stdout, "--- PASS tproxy")
}
