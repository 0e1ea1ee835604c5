package runner

import (
	"bytes"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/steps"
)

func TestRedaction(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "env-token-1234")
	r := newRedactor()
	r.learnFrom(`consul agent -dev -hcl acl { tokens { initial_management = "d2a8b0a6-1d6b-4f4c-9d7c-1e2f3a4b5c6d" } }`)
	cases := map[string]string{
		"token is env-token-1234 here":                            "token is [redacted] here",
		"saw d2a8b0a6-1d6b-4f4c-9d7c-1e2f3a4b5c6d in a reply":     "saw [redacted] in a reply",
		"consul acl token read -token=abcd-efgh-ijkl":             "consul acl token read -token=[redacted]",
		`curl -H "X-Consul-Token: s3cr3t-value" localhost:8500`:   `curl -H "X-Consul-Token: [redacted]" localhost:8500`,
		`{"SecretID": "0f1e2d3c-aaaa-bbbb-cccc-121212121212"}`:    `{"SecretID": "[redacted]"}`,
		"consul acl token read -token abcd-1234-flag":             "consul acl token read -token [redacted]",
		"nothing secret in: sidecar web ready on 127.0.0.1:21001": "nothing secret in: sidecar web ready on 127.0.0.1:21001",
	}
	for in, want := range cases {
		if got := r.redact(in); got != want {
			t.Errorf("redact(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	// A secret learned from one line is hidden in later ones too.
	if got := r.redact("echo abcd-efgh-ijkl"); got != "echo [redacted]" {
		t.Errorf("learned secret not hidden: %q", got)
	}
}

func TestRedactingWriterHandlesSplitLines(t *testing.T) {
	r := newRedactor()
	r.learn("topsecret")
	var out bytes.Buffer
	w := r.writer(&out)
	w.Write([]byte("a top"))
	w.Write([]byte("secret b\nnext "))
	w.Write([]byte("line\n"))
	if got := out.String(); got != "a [redacted] b\nnext line\n" || strings.Contains(got, "topsecret") {
		t.Errorf("got %q", got)
	}
}

// Every form the issue lists, whatever the secret's length.
func TestRedactionForms(t *testing.T) {
	r := newRedactor()
	cases := map[string]string{
		`acl { tokens { initial_management = "s3c" agent = "ag" agent_recovery = "rec" default = "d" replication = "r" config_file_service_registration = "c" dns = "n" } }`: `acl { tokens { initial_management = "[redacted]" agent = "[redacted]" agent_recovery = "[redacted]" default = "[redacted]" replication = "[redacted]" config_file_service_registration = "[redacted]" dns = "[redacted]" } }`,
		`{"acl": {"tokens": {"agent": "a1", "default": "d2", "dns": "n3"}}}`:                                                                                                 `{"acl": {"tokens": {"agent": "[redacted]", "default": "[redacted]", "dns": "[redacted]"}}}`,
		`curl -H "X-Consul-Token: ab" x`:                     `curl -H "X-Consul-Token: [redacted]" x`,
		`Authorization: Bearer abc.def`:                      `Authorization: Bearer [redacted]`,
		`-H 'authorization: Basic dXNlcjpwYXNz'`:             `-H 'authorization: Basic [redacted]'`,
		`http://user:pw@127.0.0.1:8500/v1`:                   `http://user:[redacted]@127.0.0.1:8500/v1`,
		`MY_API_TOKEN=xy sh -c 'echo'`:                       `MY_API_TOKEN=[redacted] sh -c 'echo'`,
		`DB_PASSWORD='two words' run`:                        `DB_PASSWORD='[redacted]' run`,
		`CONSUL_HTTP_AUTH=user:pass consul members`:          `CONSUL_HTTP_AUTH=[redacted] consul members`,
		`password = "with spaces inside"`:                    `password = "[redacted]"`,
		`consul agent -dev -encrypt abcd`:                    `consul agent -dev -encrypt [redacted]`,
		`encrypt = "pUqJrVyVRj5jsiYEkM/tFQ=="`:               `encrypt = "[redacted]"`,
		`{"encrypt": "k3y"}`:                                 `{"encrypt": "[redacted]"}`,
		`expect: {to: web/socat, wire: encrypted}`:           `expect: {to: web/socat, wire: encrypted}`,
		`wire: the network encrypted: 34 frames`:             `wire: the network encrypted: 34 frames`,
		`the agent is up; default policy allow; dns on 8600`: `the agent is up; default policy allow; dns on 8600`,
		`process "agent": open log: no such file`:            `process "agent": open log: no such file`,
	}
	for in, want := range cases {
		if got := r.redact(in); got != want {
			t.Errorf("redact(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestSecretsFromTheEnvironment(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "ghp_0123456789abcdef")
	t.Setenv("SOME_AUTH", "true") // too short for a loosely named variable: not hidden everywhere
	r := newRedactor()
	if got := r.redact("cloned with ghp_0123456789abcdef, exit: true"); got != "cloned with [redacted], exit: true" {
		t.Errorf("got %q", got)
	}
}

// A short secret is hidden as a whole word wherever it appears, not
// inside other words; a quoted output's escaped quotes still delimit one.
func TestShortLearnedSecrets(t *testing.T) {
	r := newRedactor()
	r.learnFrom(`-hcl 'acl { tokens { initial_management = "s3c" } }'`)
	for in, want := range map[string]string{
		"token s3c\n":                      "token [redacted]\n",
		"s3c s3c":                          "[redacted] [redacted]",
		"the s3cond try":                   "the s3cond try",
		`"tokens { dns = \"dns-tok\" }\n"`: `"tokens { dns = \"[redacted]\" }\n"`,
	} {
		if got := r.redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// A quoted excerpt ends after 200 bytes: a secret astride the cut must not
// show its start, wherever the cut falls, whether the runner learned the
// secret (an acl-token's) or only a pattern names it (escaped JSON in a
// quoted output). Likewise a log tail that starts inside a line must not
// show a secret's end.
func TestCutSecretsAreHidden(t *testing.T) {
	const secret = "b5b4d046-9265-673f-817f-416fa5d98ff6"
	learned := newRedactor()
	learned.learnToken(secret)
	for cut := 0; cut <= 200; cut++ {
		// 200 bytes before the secret's end: the cut falls cut bytes
		// before it ends.
		out := `{"AccessorID": "efb2daee-f950-2e2d-6a27-7b6217ff8200", "SecretID": "` + secret + `"}`
		pad := 200 - strings.Index(out, secret) - len(secret) + cut
		if pad < 0 {
			continue
		}
		shown := steps.Quote([]byte(strings.Repeat(" ", pad) + out))
		for name, r := range map[string]*redactor{"learned": learned, "named only": newRedactor()} {
			got := r.redact(shown)
			if piece := longestPiece(got, secret); len(piece) >= minPiece {
				t.Errorf("%s, cut %d bytes before the secret's end: %q of the secret shown in %s", name, cut, piece, got)
			}
		}
	}
	for k := 1; k < len(secret)-minPiece; k++ {
		// A log tail whose first line starts k bytes into the secret.
		line := secret[k:] + " was the token"
		if got := learned.redact(line); got != Redacted+" was the token" {
			t.Errorf("tail %q: got %q", line, got)
		}
	}
}

// longestPiece is the longest substring of secret in text.
func longestPiece(text, secret string) string {
	best := ""
	for i := range secret {
		for j := len(secret); j > i+len(best); j-- {
			if strings.Contains(text, secret[i:j]) {
				best = secret[i:j]
				break
			}
		}
	}
	return best
}

// Escaped JSON (a quoted output, JSON inside JSON) and cut values are
// named secrets too; a word that only shares a learned secret's start is
// not a piece of it.
func TestEscapedAndCutForms(t *testing.T) {
	r := newRedactor()
	r.learn("/tmp/run-1/token-file")
	r.learn("/tmp/run-2/management")
	for in, want := range map[string]string{
		`"{\n  \"SecretID\": \"0f1e2d3c-aaaa\",\n"`:        `"{\n  \"SecretID\": \"[redacted]\",\n"`,
		`"  \"SecretID\": \"0f1e2d3c-aa"... (526 bytes)`:   `"  \"SecretID\": \"[redacted]"... (526 bytes)`,
		`{\\\"SecretID\\\": \\\"0f1e2d3c\\\"}`:             `{\\\"SecretID\\\": \\\"[redacted]\\\"}`,
		`"SecretID": "0f1e2d3c-aa`:                         `"SecretID": "[redacted]`,
		`"{\"Authorization\": \"Bearer abc.def\"}"`:        `"{\"Authorization\": \"Bearer [redacted]\"}"`,
		`consul acl token read -token "abc-def" -self`:     `consul acl token read -token "[redacted]" -self`,
		`"consul acl token read -token \"abc-def\" -self"`: `"consul acl token read -token \"[redacted]\" -self"`,
		"logs in /tmp/run-1/token-log and /tmp/run-12":     "logs in /tmp/run-1/token-log and /tmp/run-12",
		"read /tmp/run-1/token-file":                       "read [redacted]",
	} {
		if got := r.redact(in); got != want {
			t.Errorf("redact(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

// A line too long to hold back is written in parts, cut where no secret
// can be (after a space), so that a secret in it is still whole when
// redacted.
func TestRedactingWriterCutsLongLines(t *testing.T) {
	r := newRedactor()
	r.learn("topsecret-0123456789")
	var out bytes.Buffer
	w := r.writer(&out)
	chunk := []byte(strings.Repeat("x", 1000) + " topsecret-0123456789 ")
	for out.Len() == 0 {
		w.Write(chunk)
	}
	w.Flush()
	if got := out.String(); strings.Contains(got, "topsecret") || strings.Count(got, Redacted) == 0 || len(got) > 2*maxPending+len(chunk) {
		t.Errorf("got %d bytes: %.300q", len(got), got)
	}
	// With nowhere to cut, it is cut where it is.
	out.Reset()
	w.Write(bytes.Repeat([]byte{0}, maxPending+1))
	if out.Len() != maxPending+1 {
		t.Errorf("%d bytes written of %d with no newline", out.Len(), maxPending+1)
	}
}
