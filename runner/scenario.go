// Package runner runs loaded scenarios' steps against a real Consul agent
// and the processes the steps start, and owns the lifecycle of everything
// it started: logged under logs/, stopped in reverse order however the
// scenario ends. Scenario files are read by package scenariofile.
package runner

import "github.com/scenario-tool/scenario/scenariofile"

// Scenario and Item are scenariofile's: what the runner runs is what Load
// returned.
type (
	Scenario = scenariofile.Scenario
	Item     = scenariofile.Item
)
