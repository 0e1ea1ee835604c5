package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// A line over the limit is skipped, not fatal: the reader goes on to the
// next line, so a child is never left blocked writing to nobody.
func TestLineReaderSkipsOverlongLines(t *testing.T) {
	const limit = 1 << 20
	input := "first\n" + strings.Repeat("x", 3*limit) + "\nafter\nlast-without-newline"
	l := &lineReader{r: bufio.NewReaderSize(strings.NewReader(input), 64<<10), max: limit}
	var got []string
	for {
		line, err := l.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if line == nil {
			got = append(got, "<dropped>")
			continue
		}
		got = append(got, string(bytes.TrimSuffix(line, []byte("\n"))))
	}
	if want := "first,<dropped>,after,last-without-newline"; strings.Join(got, ",") != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
