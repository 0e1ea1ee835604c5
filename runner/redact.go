package runner

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Redacted replaces every secret in what the runner writes.
const Redacted = "[redacted]"

// secretPatterns find secrets by their names: token = "...",
// "initial_management": "...", X-Consul-Token: ..., CONSUL_HTTP_TOKEN=...,
// and flags such as -token=... or -token ....
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)((?:token|secret|password|passwd|initial_management|master|encrypt)[a-z0-9_-]*"?\s*[:=]\s*"?)([^"'\s,;}{]{8,})`),
	regexp.MustCompile(`(?i)(\s-{1,2}(?:token|encrypt|password)[a-z0-9_-]*\s+)([^-\s"'][^\s"']{7,})`),
}

// redactor hides secrets in the runner's output and in the lines it adds
// to process logs. Secrets are learned from the environment and from the
// command lines of processes it starts, then hidden wherever they appear.
type redactor struct {
	mu      sync.Mutex
	secrets []string // longest first
}

func newRedactor() *redactor {
	r := &redactor{}
	for _, name := range []string{"CONSUL_HTTP_TOKEN", "CONSUL_TOKEN", "CONSUL_HTTP_AUTH", "CONSUL_AGENT_TOKEN"} {
		if v := os.Getenv(name); v != "" {
			r.learn(v)
		}
	}
	return r
}

func (r *redactor) learn(secret string) {
	if len(secret) < 4 || secret == Redacted {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if s == secret {
			return
		}
	}
	r.secrets = append(r.secrets, secret)
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

// learnFrom remembers the secrets named in text (a command line, say).
func (r *redactor) learnFrom(text string) {
	for _, re := range secretPatterns {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			r.learn(m[2])
		}
	}
}

// redact returns text with every known or recognisable secret replaced.
func (r *redactor) redact(text string) string {
	r.learnFrom(text)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		text = strings.ReplaceAll(text, s, Redacted)
	}
	return text
}

// writer returns w with every line redacted on its way through.
func (r *redactor) writer(w io.Writer) io.Writer { return &redactingWriter{r: r, w: w} }

type redactingWriter struct {
	r       *redactor
	w       io.Writer
	pending []byte
}

// Write redacts whole lines, so that a secret split across two writes is
// still found; a partial line waits for its end (the reporter ends every
// line it writes).
func (rw *redactingWriter) Write(p []byte) (int, error) {
	rw.pending = append(rw.pending, p...)
	end := bytes.LastIndexByte(rw.pending, '\n')
	if end < 0 {
		return len(p), nil
	}
	out := rw.r.redact(string(rw.pending[:end+1]))
	rw.pending = append(rw.pending[:0], rw.pending[end+1:]...)
	if _, err := io.WriteString(rw.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// event returns e with every text field redacted.
func (r *redactor) event(e Event) Event {
	e.Description, e.Error = r.redact(e.Description), r.redact(e.Error)
	if e.Step != nil {
		st := *e.Step
		st.Label, st.Error = r.redact(st.Label), r.redact(st.Error)
		st.Notes = nil
		for _, n := range e.Step.Notes {
			st.Notes = append(st.Notes, r.redact(n))
		}
		st.Logs = nil
		for _, t := range e.Step.Logs {
			lines := make([]string, len(t.Lines))
			for i, l := range t.Lines {
				lines[i] = r.redact(l)
			}
			st.Logs = append(st.Logs, LogTail{Path: t.Path, Lines: lines})
		}
		e.Step = &st
	}
	return e
}
