package steps

// reconnectType is the reconnect step.
var reconnectType = cableType("reconnect", "it mends the cables of the scenario's own nodes",
	"restores the cable of a node cut by disconnect; serf takes the node back when it next tries a failed member (every 30 s)")
