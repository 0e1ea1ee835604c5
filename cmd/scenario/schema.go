package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/scenario-tool/scenario/steps"
)

// schemaJSON is `scenario schema`'s output, also committed as
// scenario.schema.json for editors (# yaml-language-server: $schema=...).
func schemaJSON() string {
	data, _ := json.MarshalIndent(steps.Schema(), "", "  ")
	return string(data) + "\n"
}

func cmdSchema(stdout io.Writer) int {
	fmt.Fprint(stdout, schemaJSON())
	return exitPassed
}
