package steps

import (
	"time"
)

// Changer is a step that changes the mesh in a way the report's timeline
// marks (an intention, a config entry, the CA, a fault on a node): the
// runner records Change when the step passes.
type Changer interface {
	Change() Change
}

// Change is what a Changer changed.
type Change struct {
	// Kind is intention, config-entry, ca or fault.
	Kind string
	// What says it in a few words: "web -> api deny", "disconnect app2".
	What string
	// Node is the node a fault is on; the runner fills in the item's
	// node when it is empty.
	Node string
	// Span names a fault that lasts until a change with the same Span on
	// the same node ends it (End), or until the scenario ends: "loss".
	Span string
	End  bool
}

// Kinds of Change.
const (
	ChangeIntention   = "intention"
	ChangeConfigEntry = "config-entry"
	ChangeCA          = "ca"
	ChangeFault       = "fault"
)

// Attempt is one probe connection: when it began, how long it took, what
// came of it and whether that is what the probe expects.
type Attempt struct {
	Start   time.Time
	Took    time.Duration
	Outcome string // one of the Attempt outcomes below
	Held    bool
}

// What a probe attempt saw.
const (
	AttemptReply     = "reply"      // bytes came back
	AttemptClose     = "close"      // the connection ended with no reply
	AttemptDeny      = "deny"       // it ended, and the mesh showed it denied it
	AttemptStall     = "stall"      // open, nothing came back before the attempt's limit
	AttemptNoConnect = "no-connect" // the dial (or resolving the upstream) failed
)
