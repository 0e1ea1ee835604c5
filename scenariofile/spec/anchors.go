package spec

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// A value inside a YAML anchor is read once for every alias that brings
// it in, and where it is wrong depends on where it is used: a key that
// one step takes and another does not. A problem found there is reported
// at the anchor, and at each alias in the part of the file being read
// (the step item) that brought it in, since that is the line to change
// or to look at.

// SetRoot gives the decoder the file's whole tree, where it finds the
// aliases of an anchor.
func (d *Decoder) SetRoot(root *yaml.Node) {
	d.root, d.anchors = root, nil
}

// Scope tells the decoder which part of the file it reads now: the whole
// file (the root), then each step item in turn.
func (d *Decoder) Scope(part *yaml.Node) {
	d.scope, d.scopeAliases = part, nil
}

// anchorIndex says, for the file's tree read as written (aliases not
// followed), which anchored nodes enclose each node and which aliases
// each anchored node holds.
type anchorIndex struct {
	enclosing map[*yaml.Node]*yaml.Node   // node -> the innermost anchored node holding it (itself if anchored)
	outer     map[*yaml.Node]*yaml.Node   // anchored node -> the anchored node around it
	holds     map[*yaml.Node][]*yaml.Node // anchored node -> the aliases written inside it
	reaches   map[*yaml.Node]map[*yaml.Node]bool
}

func indexAnchors(root *yaml.Node) *anchorIndex {
	ix := &anchorIndex{enclosing: map[*yaml.Node]*yaml.Node{}, outer: map[*yaml.Node]*yaml.Node{},
		holds: map[*yaml.Node][]*yaml.Node{}, reaches: map[*yaml.Node]map[*yaml.Node]bool{}}
	var walk func(n, anchor *yaml.Node)
	walk = func(n, anchor *yaml.Node) {
		if n == nil {
			return
		}
		if n.Anchor != "" {
			if anchor != nil {
				ix.outer[n] = anchor
			}
			anchor = n
		}
		if anchor != nil {
			ix.enclosing[n] = anchor
		}
		if n.Kind == yaml.AliasNode {
			for a := anchor; a != nil; a = ix.outer[a] {
				ix.holds[a] = append(ix.holds[a], n)
			}
			return
		}
		for _, c := range n.Content {
			walk(c, anchor)
		}
	}
	walk(root, nil)
	return ix
}

// reachable is the set of anchored nodes that reading anchor brings in:
// itself, and those its aliases bring in, and so on.
func (ix *anchorIndex) reachable(anchor *yaml.Node) map[*yaml.Node]bool {
	if r, ok := ix.reaches[anchor]; ok {
		return r
	}
	r := map[*yaml.Node]bool{anchor: true}
	ix.reaches[anchor] = r // an anchor holding an alias of itself stops here
	for _, alias := range ix.holds[anchor] {
		if alias.Alias != nil {
			for a := range ix.reachable(alias.Alias) {
				r[a] = true
			}
		}
	}
	return r
}

// aliasesIn lists the aliases written inside n (aliases not followed).
func aliasesIn(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch {
		case n == nil:
		case n.Kind == yaml.AliasNode:
			out = append(out, n)
		default:
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	walk(n)
	return out
}

// aliasesBringingIn lists the aliases written in the current scope through
// which the scope reaches n, a node inside an anchor: those whose anchor
// is around n, or brings in one that is. None when n is outside every
// anchor, or no scope is set.
func (d *Decoder) aliasesBringingIn(n *yaml.Node) []*yaml.Node {
	if d.root == nil || d.scope == nil {
		return nil
	}
	if d.anchors == nil {
		d.anchors = indexAnchors(d.root)
	}
	if _, inAnchor := d.anchors.enclosing[n]; !inAnchor {
		return nil
	}
	if d.scopeAliases == nil {
		d.scopeAliases = aliasesIn(d.scope)
	}
	var out []*yaml.Node
	for _, alias := range d.scopeAliases {
		if alias.Alias == nil {
			continue
		}
		r := d.anchors.reachable(alias.Alias)
		for a := d.anchors.enclosing[n]; a != nil; a = d.anchors.outer[a] {
			if r[a] {
				out = append(out, alias)
				break
			}
		}
	}
	return out
}

// atAliases reports msg, found at n, at each alias that brought n into
// the scope being read, saying where in the anchor it is.
func (d *Decoder) atAliases(n *yaml.Node, msg string, add func(*Error)) {
	for _, alias := range d.aliasesBringingIn(n) {
		add(&Error{Pos: d.Pos(alias), Msg: fmt.Sprintf("*%s brings in line %d, column %d: %s", alias.Value, n.Line, n.Column, msg)})
	}
}
