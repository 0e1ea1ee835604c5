package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/invalid/*.golden from the current messages")

// Every file in testdata/invalid is refused before anything starts: exit
// status 2, the messages in its .golden file (file:line:col each), no
// panic, no hang, no log folder.
func TestInvalidCorpus(t *testing.T) {
	needScenarioOnly(t)
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("the corpus has %d files; it should have at least 40", len(files))
	}
	big := filepath.Join(t.TempDir(), "ten-megabytes.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding padding padding padding padding padding\n"), 10<<20/50), 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, big)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			stderr := refuse(t, file)
			if file == big {
				if !strings.Contains(stderr, big+":1:1: the file is larger than 1024 KiB") {
					t.Errorf("stderr: %s", stderr)
				}
				return
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(stderr), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run `go test ./e2e -run TestInvalidCorpus -update` and review the result)", err)
			}
			if stderr != string(want) {
				t.Errorf("messages differ from %s\n got:\n%s\nwant:\n%s", golden, stderr, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("message without file:line:col: %s", line)
				}
			}
		})
	}
}

// refuse runs the scenario binary on file and checks that it was refused
// without starting anything; it returns what was printed on stderr.
func refuse(t *testing.T, file string) string {
	t.Helper()
	logs := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, scenarioBin, "run", "--logs", logs, "--consul", consulBin, file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("hung on %s", file)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "goroutine ") {
		t.Fatalf("panicked:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("something ran:\n%s", stdout.String())
	}
	if entries, _ := os.ReadDir(logs); len(entries) != 0 {
		t.Errorf("log folder written: %v", entries)
	}
	return stderr.String()
}
