package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"
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

// A SIGPIPE interrupts only when stdout's reader is gone: a write to a
// connection its peer closed raises it too.
func TestStdoutBroken(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if stdoutBroken(w) {
		t.Error("gone while its reader is open")
	}
	gone := readerGone(w)
	r.Close()
	if !stdoutBroken(w) {
		t.Error("not gone once its reader closed")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Error("the watcher did not notice")
	}
	if stdoutBroken(&bytes.Buffer{}) {
		t.Error("a buffer has no reader to lose")
	}
}
