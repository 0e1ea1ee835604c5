package runner

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Redacted replaces every secret in what the runner writes.
const Redacted = "[redacted]"

// A secretPattern finds secrets in text: every submatch named "s" is one.
type secretPattern struct{ re *regexp.Regexp }

func pattern(expr string) secretPattern { return secretPattern{regexp.MustCompile(expr)} }

// A value as configuration and command lines write it: double-quoted
// (also with escaped quotes, once or more, as in a quoted command output
// or JSON inside JSON), single-quoted, or bare up to a delimiter. Any
// length: a short secret is still a secret. A double-quoted value need not
// be closed: output cut before the closing quote ("SecretID": "5b7d3f0a-1c
// and the end of a quoted excerpt) still names a secret.
const value = `(?:\\+"(?P<s>[^"\\\n]*)(?:\\+")?|"(?P<s>[^"\n]*)"?|'(?P<s>[^'\n]*)'|(?P<s>[^"'\s,;{}\[\]\\]+))`

// keyEnd is what may close a key and its quote before the colon or equals
// sign: nothing, a quote, or an escaped quote (\"SecretID\": \"...\" in a
// quoted JSON output).
const keyEnd = `(?:\\*")?`

// secretPatterns find secrets by what names them:
//   - keys of configuration and headers, in HCL, JSON, YAML or flags:
//     token = "...", "initial_management": "...", X-Consul-Token: ...,
//     SecretID, password=..., -token=..., -token ...;
//   - every value in a Consul ACL tokens block (initial_management, agent,
//     agent_recovery, default, dns, replication,
//     config_file_service_registration, and whatever Consul adds);
//   - Authorization headers (Bearer, Basic, ... and the credential);
//   - the password of a URL's user info (https://user:pass@host);
//   - environment variables named like secrets: CONSUL_HTTP_TOKEN=...,
//     MY_API_KEY=..., DB_PASSWORD=...
var secretPatterns = []secretPattern{
	pattern(`(?i)authorization` + keyEnd + `\s*[:=]\s*(?:\\*")?(?:(?:bearer|basic|token|digest|negotiate)\s+)?(?P<s>[^"'\s,;\\]+)`),
	// encrypt is Consul's gossip key, a key of that exact name: "wire:
	// encrypted" and "encryption: on" name no secret.
	pattern(`(?i)(?:^|[^a-z])(?:(?:token|secret|password|passwd|passphrase|initial_management|agent_recovery|agent_master|master_token|private_key|api_?key|access_?key|credentials?)[a-z0-9_-]*|encrypt)` + keyEnd + `\s*[:=]\s*` + value),
	pattern(`(?i)\s-{1,2}(?:token|encrypt|password|secret)[a-z0-9_-]*\s+(?:\\*"(?P<s>[^"\\\n]*)|'(?P<s>[^'\n]*)'|(?P<s>[^-\s"'\\][^\s"'\\]*))`),
	pattern(`(?i)[a-z][a-z0-9+.-]*://[^/\s:@"']*:(?P<s>[^/\s@"']+)@`),
	pattern(`(?:^|[^A-Za-z0-9_])[A-Z][A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|PASS|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?|AUTH)[A-Z0-9_]*=` + value),
}

// tokensBlock finds Consul's ACL tokens block in HCL or JSON, whose every
// value is a token whatever its key.
var (
	tokensBlock = regexp.MustCompile(`(?i)"?tokens"?\s*[:=]?\s*\{[^{}]*\}`)
	blockValue  = pattern(`(?i)"?[a-z_]+"?\s*[:=]\s*` + value)
)

// secretEnv names environment variables whose values are secrets.
var secretEnv = regexp.MustCompile(`(?i)token|secret|password|passwd|api_?key|access_?key|private_?key|credential|_auth$|^consul_http_auth$`)

// minLearned is the shortest secret hidden wherever it appears; a
// shorter one is hidden where a pattern names it. A secret shorter than
// wordLearned is hidden only as a whole word ("s3c" in "token s3c" and in
// a quoted "...\ns3c\n", not inside "s3cond"), so that a short token does
// not shred the report.
const (
	minLearned  = 3
	wordLearned = 8
)

// redactor hides secrets in the runner's output and in the lines it adds
// to process logs. Secrets are found by the patterns above, where they
// are named, and learned, to be hidden wherever they appear afterwards.
type redactor struct {
	mu      sync.Mutex
	secrets []string                  // longest first
	words   map[string]*regexp.Regexp // the short ones, as whole words
}

func newRedactor() *redactor {
	r := &redactor{}
	for _, kv := range os.Environ() {
		name, v, _ := strings.Cut(kv, "=")
		// Short values of loosely named variables (FOO_AUTH=true) would
		// hide ordinary words; the patterns still catch NAME=value.
		if secretEnv.MatchString(name) && (len(v) >= 8 || strings.HasPrefix(name, "CONSUL_") && len(v) >= minLearned) {
			r.learn(v)
		}
	}
	return r
}

var (
	defaultOnce     sync.Once
	defaultRedactor *redactor
)

// RedactEvent redacts an event with the patterns and the environment's
// secrets (for events from elsewhere: a --parallel child's).
func RedactEvent(e Event) Event {
	defaultOnce.Do(func() { defaultRedactor = newRedactor() })
	return defaultRedactor.event(e)
}

// Redact redacts text with the patterns and the environment's secrets.
func Redact(text string) string {
	defaultOnce.Do(func() { defaultRedactor = newRedactor() })
	return defaultRedactor.redact(text)
}

// LearnSecret hides secret wherever Redact and RedactEvent look, however
// short: a token given on the command line.
func LearnSecret(secret string) {
	defaultOnce.Do(func() { defaultRedactor = newRedactor() })
	defaultRedactor.learnToken(secret)
}

func (r *redactor) learn(secret string) {
	if len(secret) < minLearned {
		return
	}
	r.learnToken(secret)
}

// learnToken hides secret wherever it appears, however short: a token the
// runner itself hands to commands (CONSUL_HTTP_TOKEN) is known to be one.
func (r *redactor) learnToken(secret string) {
	if secret == "" || secret == Redacted {
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
	if len(secret) < wordLearned {
		if r.words == nil {
			r.words = map[string]*regexp.Regexp{}
		}
		r.words[secret] = regexp.MustCompile(`(^|[^A-Za-z0-9_-]|\\[nrt])` + regexp.QuoteMeta(secret) + `($|[^A-Za-z0-9_-])`)
	}
}

// learnFrom remembers the secrets named in text (a command line, say).
func (r *redactor) learnFrom(text string) {
	for _, span := range secretSpans(text) {
		r.learn(text[span[0]:span[1]])
	}
}

// secretSpans returns where the patterns find secrets in text.
func secretSpans(text string) [][2]int {
	var spans [][2]int
	add := func(p secretPattern, s string, offset int) {
		for _, m := range p.re.FindAllStringSubmatchIndex(s, -1) {
			for i, name := range p.re.SubexpNames() {
				if name == "s" && m[2*i] >= 0 && m[2*i+1] > m[2*i] {
					spans = append(spans, [2]int{offset + m[2*i], offset + m[2*i+1]})
				}
			}
		}
	}
	for _, p := range secretPatterns {
		add(p, text, 0)
	}
	for _, b := range tokensBlock.FindAllStringIndex(text, -1) {
		add(blockValue, text[b[0]:b[1]], b[0])
	}
	return spans
}

// namingWords are, in lower case, words of which every secretPattern and
// tokensBlock needs one to match: text with none of them names no secret,
// and the patterns (slow on megabytes of a process's output) are skipped.
// A word added to a pattern must be added here.
var namingWords = []string{"auth", "token", "secret", "pass", "initial_management", "agent_recovery",
	"agent_master", "key", "credential", "encrypt", "://"}

// mayNameSecret reports whether text holds one of the namingWords.
func mayNameSecret(text string) bool {
	lower := strings.ToLower(text)
	for _, w := range namingWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// redact returns text with every known or recognisable secret replaced.
func (r *redactor) redact(text string) string {
	if mayNameSecret(text) {
		spans := secretSpans(text)
		for _, sp := range spans {
			r.learn(text[sp[0]:sp[1]])
		}
		text = replaceSpans(text, spans)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if re := r.words[s]; re != nil {
			if !strings.Contains(text, s) {
				continue
			}
			// ReplaceAll does not see a match that shares its delimiter
			// with the previous one ("s3c s3c"): twice does.
			for i := 0; i < 2; i++ {
				text = re.ReplaceAllString(text, "${1}"+Redacted+"${2}")
			}
			continue
		}
		if tokenShaped(s) {
			text = replaceSpans(text, pieceSpans(text, s))
			continue
		}
		text = strings.ReplaceAll(text, s, Redacted)
	}
	return text
}

// replaceSpans returns text with each span replaced by Redacted;
// overlapping spans (two patterns on one secret) merge.
func replaceSpans(text string, spans [][2]int) string {
	if len(spans) == 0 {
		return text
	}
	// Right to left, so that the spans stay valid.
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] > spans[j][0] })
	end := len(text) + 1
	var b []byte
	out := text
	for _, sp := range spans {
		if sp[1] > end {
			sp[1] = end
		}
		if sp[0] >= sp[1] {
			continue
		}
		b = append(b[:0], out[:sp[0]]...)
		b = append(b, Redacted...)
		b = append(b, out[sp[1]:]...)
		out = string(b)
		end = sp[0]
	}
	return out
}

// minPiece is the shortest piece of a learned secret that is hidden on its
// own: what is left of a secret that a cut went through.
const minPiece = 8

// pieceSpans finds secret in text, whole, and also cut: the text is cut
// short wherever the runner shows only part of an output (a quoted excerpt
// ends after 200 bytes, a log tail starts inside a line), and a secret
// astride the cut must not show its first or last 28 characters. A piece
// is a prefix of secret (minPiece bytes or more) that ends where the text
// ends or goes on with a byte that cannot continue a secret (a quote, a
// space, "..."), or likewise a suffix that starts where the text starts or
// after such a byte. A longer token that only shares the secret's start
// (5b7d3f0a-1c2e-ffff... for 5b7d3f0a-1c2e-4d6f...) is not a piece of it.
func pieceSpans(text, secret string) [][2]int {
	if len(secret) < minPiece {
		return nil
	}
	var spans [][2]int
	head, tail := secret[:minPiece], secret[len(secret)-minPiece:]
	for from := 0; ; {
		i := strings.Index(text[from:], head)
		if i < 0 {
			break
		}
		i += from
		n := minPiece
		for n < len(secret) && i+n < len(text) && text[i+n] == secret[n] {
			n++
		}
		if end := i + n; n == len(secret) || end == len(text) || !secretByte(text[end]) {
			spans = append(spans, [2]int{i, end})
		}
		from = i + 1
	}
	for from := 0; ; {
		j := strings.Index(text[from:], tail)
		if j < 0 {
			break
		}
		end := from + j + minPiece
		n := minPiece
		for n < len(secret) && end-n > 0 && text[end-n-1] == secret[len(secret)-n-1] {
			n++
		}
		if start := end - n; n == len(secret) || start == 0 || !secretByte(text[start-1]) {
			spans = append(spans, [2]int{start, end})
		}
		from = from + j + 1
	}
	return spans
}

// tokenShaped reports whether secret is made of secretBytes only, as
// tokens are (Consul's are UUIDs), so that its pieces are hidden too. A
// path or a phrase is hidden whole only: the pieces of a token file's
// path (CONSUL_HTTP_TOKEN_FILE=/tmp/t/management) are words and paths
// ("the management token", the log folder beside it).
func tokenShaped(secret string) bool {
	for i := 0; i < len(secret); i++ {
		if !secretByte(secret[i]) {
			return false
		}
	}
	return true
}

// secretByte reports whether b may be part of a token: a letter, a digit,
// - or _ (UUIDs, base64 and hex tokens).
func secretByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

// writer returns w with every line redacted on its way through.
func (r *redactor) writer(w io.Writer) *SafeWriter {
	return &SafeWriter{line: r.redact, w: w}
}

// SafeWriter redacts every line written through it and escapes its
// control characters, so that nothing written can hide a secret or forge
// a line of the report. A partial line waits for its end or Flush.
type SafeWriter struct {
	mu      sync.Mutex
	line    func(string) string
	w       io.Writer
	pending []byte
}

// NewSafeWriter makes w safe for the runner's own lines (stderr).
func NewSafeWriter(w io.Writer) *SafeWriter {
	return &SafeWriter{line: func(s string) string { return EscapeText(Redact(s)) }, w: w}
}

// maxPending bounds a partial line held back: a process may write
// megabytes with no newline (head -c 1G /dev/zero).
const maxPending = 64 << 10

// Write redacts whole lines, so that a secret split across two writes is
// still found.
func (sw *SafeWriter) Write(p []byte) (int, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.pending = append(sw.pending, p...)
	end := bytes.LastIndexByte(sw.pending, '\n') + 1
	if end == 0 && len(sw.pending) > maxPending {
		// A line too long to hold: cut it after the last byte that cannot
		// be inside a secret (a space, a quote), so that none is split,
		// or, with none in its second half, where it is.
		end = bytes.LastIndexAny(sw.pending, " \t\r\"',;{}[]") + 1
		if end <= len(sw.pending)/2 {
			end = len(sw.pending)
		}
	}
	if end == 0 {
		return len(p), nil
	}
	out := sw.line(string(sw.pending[:end]))
	sw.pending = append(sw.pending[:0], sw.pending[end:]...)
	if _, err := io.WriteString(sw.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what is left of a partial line.
func (sw *SafeWriter) Flush() error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if len(sw.pending) == 0 {
		return nil
	}
	out := sw.line(string(sw.pending))
	sw.pending = nil
	_, err := io.WriteString(sw.w, out)
	return err
}

// event returns e with every text field redacted, those of the values
// it points to included (copied, not changed in place): a field added to
// Event is redacted without being named here.
func (r *redactor) event(e Event) Event {
	r.redactValue(reflect.ValueOf(&e).Elem())
	return e
}

func (r *redactor) redactValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(r.redact(v.String()))
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				r.redactValue(f)
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		c := reflect.New(v.Elem().Type())
		c.Elem().Set(v.Elem())
		r.redactValue(c.Elem())
		v.Set(c)
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := 0; i < c.Len(); i++ {
			r.redactValue(c.Index(i))
		}
		v.Set(c)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			k, val := reflect.New(it.Key().Type()).Elem(), reflect.New(it.Value().Type()).Elem()
			k.Set(it.Key())
			val.Set(it.Value())
			r.redactValue(k)
			r.redactValue(val)
			c.SetMapIndex(k, val)
		}
		v.Set(c)
	}
}

// EscapeLine shows s on one line: control characters (newlines
// included), invalid UTF-8 and the invisible characters that reorder or
// hide text (bidirectional overrides) are written as Go escapes, so that
// a name or a log line can neither forge a line of the report nor move
// the cursor.
func EscapeLine(s string) string { return escape(s, false) }

// EscapeText is EscapeLine that keeps newlines (and the lines they make).
func EscapeText(s string) string { return escape(s, true) }

func escape(s string, keepNewlines bool) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) && !(keepNewlines && r == '\n') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepNewlines && r == '\n':
			b.WriteByte('\n')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case needsEscape(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return true
	case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// mask overwrites, in place, every secret the redactor has learned with X
// of the same length: for binary evidence (a wire capture), whose layout
// must not change.
func (r *redactor) mask(b []byte) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(s))
			if j < 0 {
				break
			}
			copy(b[i+j:], bytes.Repeat([]byte("X"), len(s)))
			i += j + len(s)
		}
	}
	return b
}
