package consuldef

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/hcl/token"
)

// jsonPositions indexes a JSON document, which encoding/json has already
// accepted, by key path as mapstructure spells them (lower case,
// "services[1].checks[0].id"): where each key, and each list element,
// starts. The positions come from encoding/json's own tokenizer
// (Decoder.Token and InputOffset), not from searching the text: HCL's JSON
// parser keeps no position for keys.
func jsonPositions(data []byte) positions {
	w := &jsonWalker{p: positions{}, data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	for i, b := range data {
		if b == '\n' {
			w.lineStarts = append(w.lineStarts, i+1)
		}
	}
	if err := w.value(""); err != nil {
		return positions{}
	}
	return w.p
}

type jsonWalker struct {
	p          positions
	data       []byte
	dec        *json.Decoder
	lineStarts []int // offsets of the lines after the first
}

// next is the offset where the next token starts: InputOffset is the end
// of the last token, and between tokens JSON has only whitespace and the
// separators the tokenizer consumes with the next token (',' and ':').
func (w *jsonWalker) next() int {
	off := int(w.dec.InputOffset())
	for off < len(w.data) && strings.IndexByte(" \t\r\n,:", w.data[off]) >= 0 {
		off++
	}
	return off
}

func (w *jsonWalker) pos(off int) token.Pos {
	line := 1
	start := 0
	for _, s := range w.lineStarts {
		if s > off {
			break
		}
		line++
		start = s
	}
	return token.Pos{Offset: off, Line: line, Column: off - start + 1}
}

// value reads one value whose keys get paths under path.
func (w *jsonWalker) value(path string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		for w.dec.More() {
			at := w.next()
			k, err := w.dec.Token()
			if err != nil {
				return err
			}
			key := strings.ToLower(fmt.Sprint(k))
			if path != "" {
				key = path + "." + key
			}
			w.p.record(key, w.pos(at))
			if err := w.value(key); err != nil {
				return err
			}
		}
		_, err = w.dec.Token() // '}'
		// Consul's decoder may see an object as a one-element list.
		w.p.alias(path, path+"[0]")
	case json.Delim('['):
		n := 0
		for ; w.dec.More(); n++ {
			at := w.next()
			indexed := fmt.Sprintf("%s[%d]", path, n)
			w.p.record(indexed, w.pos(at))
			if err := w.value(indexed); err != nil {
				return err
			}
		}
		_, err = w.dec.Token() // ']'
		if n == 1 {
			// ... and a one-element list as its element.
			w.p.alias(path+"[0]", path)
		}
	}
	return err
}

// alias records, for every path under from, the same position under to.
func (p positions) alias(from, to string) {
	if from == "" || to == "" {
		return
	}
	for path, pos := range p {
		if rest, ok := strings.CutPrefix(path, from); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
			p.record(to+rest, pos)
		}
	}
}
