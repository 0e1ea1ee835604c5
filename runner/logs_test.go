package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Slug is injective: names that differ give folders that differ, and
// none escapes its parent or hides itself.
func TestSlugIsInjective(t *testing.T) {
	names := []string{"basic", "Basic", "a b", "a-b", "a_b", "a%20b", "a/b", "a\\b", "..", ".", "...", ".hidden", "é", "ë",
		"e\u0301", "日本", "\x1b[2J", "a\nb", "\xff", "", "%", "%25", strings.Repeat("x", 300), strings.Repeat("x", 299) + "y"}
	seen := map[string]string{}
	for _, n := range names {
		s := Slug(n)
		if prev, dup := seen[s]; dup {
			t.Errorf("Slug(%q) = Slug(%q) = %q", n, prev, s)
		}
		seen[s] = n
		if s == "" || s == "." || s == ".." || strings.HasPrefix(s, ".") || strings.ContainsAny(s, "/\\\x00\n\x1b") || len(s) > 255 {
			t.Errorf("Slug(%q) = %q is not a safe folder name", n, s)
		}
	}
}

func TestLogFolderOwnership(t *testing.T) {
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours")
	if _, err := prepareLogFolder(ours); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ours, "agent.log"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := prepareLogFolder(ours)
	if err != nil {
		t.Fatalf("our own folder is not reused: %v", err)
	}
	if err := removed(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ours, "agent.log")); err == nil {
		t.Error("the last run's log is still there")
	}
	foreign := filepath.Join(dir, "foreign")
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(ours, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{foreign, link, file} {
		if _, err := prepareLogFolder(p); err == nil || !strings.Contains(err.Error(), "scenario removes nothing it did not create") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(foreign, "keep")); err != nil {
		t.Errorf("a foreign file was removed: %v", err)
	}
}

func TestEscapeLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain name, é":          "plain name, é",
		"a\nb":                   `a\nb`,
		"\x1b[2J\rX":             `\x1b[2J\rX`,
		"bidi \u202eevil":        `bidi \u202eevil`,
		"bad \xff byte":          `bad \xff byte`,
		"c1 \u009b control":      `c1 \u009b control`,
		"tab\tdel\x7f":           `tab\tdel\x7f`,
		"--- PASS\n--- PASS all": `--- PASS\n--- PASS all`,
	} {
		if got := EscapeLine(in); got != want {
			t.Errorf("EscapeLine(%q) = %q, want %q", in, got, want)
		}
	}
	if got := EscapeText("one\ntwo\x1b"); got != "one\ntwo\\x1b" {
		t.Errorf("EscapeText keeps lines: %q", got)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"basic": "basic", "Deny web -> socat!": "Deny%20web%20-%3E%20socat%21", "../..": "%2E.%2F..", "café": "café"} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// A log folder whose mesh `scenario up` holds (its held.json names a live
// process) is not cleared; one left by an up that was killed is.
func TestCheckLogFolderRefusesAHeldMesh(t *testing.T) {
	folder := filepath.Join(t.TempDir(), "held")
	if _, err := prepareLogFolder(folder); err != nil {
		t.Fatal(err)
	}
	write := func(pid int) {
		if err := os.WriteFile(filepath.Join(folder, HeldFile), []byte(fmt.Sprintf(`{"pid": %d}`, pid)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(os.Getppid()) // alive, and not this process
	if err := CheckLogFolder(folder); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("scenario up (pid %d) holds", os.Getppid())) {
		t.Errorf("a held mesh's folder: %v", err)
	}
	write(1 << 30) // no such process
	if err := CheckLogFolder(folder); err != nil {
		t.Errorf("a folder left by a killed up: %v", err)
	}
}

// The last run's folder is set aside and gone once removed says so, with
// the folders that killed runs set aside; a folder that only looks set
// aside, without the runner's mark, is kept.
func TestTheLastRunsLogFolderIsGoneOnceRemoved(t *testing.T) {
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours")
	if _, err := prepareLogFolder(ours); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ours, "agent.log"), []byte("last run"), 0o600); err != nil {
		t.Fatal(err)
	}
	killed := filepath.Join(dir, ".ours"+asideInfix+"1-2")
	foreign := filepath.Join(dir, ".ours"+asideInfix+"3-4")
	for _, d := range []string{killed, foreign} {
		if err := os.MkdirAll(filepath.Join(d, "agent-data"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(killed, LogsMarker), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := prepareLogFolder(ours)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(ours); len(entries) != 1 || entries[0].Name() != LogsMarker {
		t.Errorf("the new folder holds %v, not only its mark", entries)
	}
	if err := removed(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{filepath.Base(foreign), "ours"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("left in the logs folder: %v, want %v", names, want)
	}
}
