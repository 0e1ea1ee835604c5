package spec

import (
	"fmt"
	"strings"
)

// Line describes the key in one line, for terminal help.
func (k KeyDoc) Line() string {
	s := k.Shape
	switch {
	case k.Required:
		s += ", required"
	case k.Default != "":
		s += ", default " + k.Default
	}
	if k.Doc != "" {
		s += "; " + k.Doc
	}
	return s
}

// MarkdownKeys renders keys as a Markdown table, for the reference pages.
func MarkdownKeys(keys []KeyDoc) string {
	var b strings.Builder
	b.WriteString("| key | value | | meaning |\n|---|---|---|---|\n")
	for _, k := range keys {
		req := ""
		switch {
		case k.Required:
			req = "required"
		case k.Default != "":
			req = "default `" + k.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", k.Key, MarkdownCell(k.Shape), req, MarkdownCell(k.Doc))
	}
	return b.String()
}

// MarkdownCell escapes s for a Markdown table cell.
func MarkdownCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
