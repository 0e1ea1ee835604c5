package docs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository's root, from this package's folder.
const root = ".."

// markdownFiles are the project's own Markdown files: not those of
// generated or fetched trees (logs, bin, the Consul build modules).
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			if rel != "." && (strings.HasPrefix(name, ".") && name != ".github" || rel == "logs" || rel == "bin" || rel == "tmp" || strings.HasPrefix(rel, "tools/consul")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d Markdown files under %s; expected the README and docs/", len(files), root)
	}
	return files
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink    = regexp.MustCompile(`^\s*\[[^\]]+\]:\s*(\S+)`)
	htmlTarget = regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	heading    = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	linkText   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// A link is a relative target written in a Markdown file.
type link struct {
	file   string
	line   int
	target string
}

// scan reads a Markdown file's relative links and the anchors its
// headings make, as GitHub renders them. Code blocks and code spans hold
// neither.
func scan(path string) (links []link, anchors map[string]bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	anchors = map[string]bool{}
	seen := map[string]int{}
	inFence := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			slug := slugOf(m[2])
			if k := seen[slug]; k > 0 {
				anchors[fmt.Sprintf("%s-%d", slug, k)] = true
			} else {
				anchors[slug] = true
			}
			seen[slug]++
		}
		text := codeSpan.ReplaceAllString(line, "")
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, m := range htmlTarget.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		if m := refLink.FindStringSubmatch(text); m != nil {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links = append(links, link{file: path, line: n, target: target})
		}
	}
	return links, anchors, sc.Err()
}

// slugOf is the anchor GitHub gives a heading: its text (links as their
// text, no code marks) in lower case, with spaces as dashes and every
// character that is not a letter, digit, dash or underscore dropped.
func slugOf(text string) string {
	text = linkText.ReplaceAllString(text, "$1")
	text = strings.NewReplacer("`", "", "*", "").Replace(text)
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every relative link of every Markdown file of the project points at a
// file or folder that exists, and an anchor into a Markdown file at one of
// its headings.
func TestRelativeLinksResolve(t *testing.T) {
	files := markdownFiles(t)
	anchorsOf := map[string]map[string]bool{}
	var links []link
	for _, f := range files {
		l, a, err := scan(f)
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, l...)
		anchorsOf[filepath.Clean(f)] = a
	}
	checked := 0
	for _, l := range links {
		where := fmt.Sprintf("%s:%d", strings.TrimPrefix(l.file, root+"/"), l.line)
		path, anchor, _ := strings.Cut(l.target, "#")
		target := filepath.Clean(l.file)
		if path != "" {
			if strings.HasPrefix(path, "/") {
				target = filepath.Join(root, path)
			} else {
				target = filepath.Join(filepath.Dir(l.file), path)
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: link %q: %s does not exist", where, l.target, strings.TrimPrefix(target, root+"/"))
				continue
			}
		}
		if anchor != "" && strings.HasSuffix(target, ".md") {
			anchors, ok := anchorsOf[target]
			if !ok {
				t.Errorf("%s: link %q: %s is not one of the project's Markdown files", where, l.target, target)
				continue
			}
			if !anchors[anchor] {
				t.Errorf("%s: link %q: %s has no heading whose anchor is #%s", where, l.target, strings.TrimPrefix(target, root+"/"), anchor)
			}
		}
		checked++
	}
	t.Logf("checked %d relative links in %d files", checked, len(files))
	if checked < 20 {
		t.Errorf("checked only %d links; is the scan broken?", checked)
	}
}

// The anchors are GitHub's.
func TestSlugOfHeadings(t *testing.T) {
	for text, want := range map[string]string{
		"Topologies: nodes in network namespaces": "topologies-nodes-in-network-namespaces",
		"`run --agent`: an existing cluster":      "run---agent-an-existing-cluster",
		"What `denied: true` proves":              "what-denied-true-proves",
		"[Links](x.md) and *emphasis*":            "links-and-emphasis",
		"acl-token":                               "acl-token",
		"Processes, cleanup and logs":             "processes-cleanup-and-logs",
	} {
		if got := slugOf(text); got != want {
			t.Errorf("slugOf(%q) = %q, want %q", text, got, want)
		}
	}
}
