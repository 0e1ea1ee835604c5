package main

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/scenario-tool/scenario/runner"
)

func cmdGraph(files []string, svg bool, stdout, stderr io.Writer) int {
	if len(files) != 1 {
		fmt.Fprintln(stderr, "scenario graph: give one scenario file")
		return exitInvalid
	}
	scenarios, invalid := loadAll(files, stderr)
	if len(invalid) > 0 {
		return exitInvalid
	}
	dot := graphOf(scenarios[0])
	if !svg {
		fmt.Fprint(stdout, dot)
		return exitPassed
	}
	bin, err := exec.LookPath("dot")
	if err != nil {
		fmt.Fprintln(stderr, "scenario graph: --svg needs Graphviz's dot (apt-get install graphviz); without --svg the DOT text is printed")
		return exitInvalid
	}
	cmd := exec.Command(bin, "-Tsvg")
	cmd.Stdin = strings.NewReader(dot)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &errb
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(stderr, "scenario graph: dot: %v\n%s", err, errb.String())
		return exitFailed
	}
	return exitPassed
}

// graphOf draws what the scenario's steps say about the mesh.
func graphOf(sc *runner.Scenario) string { return runner.Graph(sc) }
