package main

// The generated files (scenario.schema.json, docs/reference/*.md,
// docs/library.md, the table of docs/guides/existing-cluster.md) are
// checked by this package's tests, which rewrite them:
//
//go:generate go test . -run ^(TestSchemaIsCurrentAndValidatesScenarios|TestReferencePagesAreCurrent|TestExistingClusterGuideTableIsCurrent)$ -update

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// schemaJSON is `scenario schema`'s output, also committed as
// scenario.schema.json for editors (# yaml-language-server: $schema=...).
func schemaJSON() string {
	data, _ := json.MarshalIndent(scenariofile.Schema(steps.Default()), "", "  ")
	return string(data) + "\n"
}

func cmdSchema(stdout io.Writer) int {
	fmt.Fprint(stdout, schemaJSON())
	return exitPassed
}
