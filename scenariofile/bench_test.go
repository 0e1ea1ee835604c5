package scenariofile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// thousandSteps is a scenario of 1,000 steps of every kind that validates.
func thousandSteps(b *testing.B) (dir string, src []byte) {
	dir = b.TempDir()
	for _, name := range []string{"socat.json", "web.json"} {
		data, err := os.ReadFile(filepath.Join("../consul.d", name))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var s strings.Builder
	s.WriteString("name: big\nsteps:\n" + prelude[len("steps:\n"):] + "  - sidecar: socat\n  - sidecar: web\n")
	n := 6
	for i := 0; n < 1000; i++ {
		for _, step := range []string{
			fmt.Sprintf("  - send: {to: web/socat, data: \"%d\\n\", conn: c%d}\n", i, i),
			fmt.Sprintf("  - expect: {conn: c%d, reply: \"%d\\n\", within: 2s}\n", i, i),
			"  - set-intention: {source: web, destination: socat, action: deny}\n",
			"  - expect: {to: web/socat, send: \"x\", closed: true, within: 5s}\n",
			"  - delete-intention: {source: web, destination: socat}\n",
		} {
			s.WriteString(step)
			n++
		}
	}
	return dir, []byte(s.String())
}

func BenchmarkLoad1000Steps(b *testing.B) {
	dir, src := thousandSteps(b)
	path := filepath.Join(dir, "big.yaml")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc, err := parse(path, src)
		if err != nil || len(sc.Items) < 1000 {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate500Files(b *testing.B) {
	dir := b.TempDir()
	data, err := os.ReadFile("../scenarios/intentions.yaml")
	if err != nil {
		b.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "../consul.d/", filepath.Join(mustAbs(b, "../consul.d"))+"/")
	var files []string
	for i := 0; i < 500; i++ {
		f := filepath.Join(dir, fmt.Sprintf("s%03d.yaml", i))
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range files {
			if _, err := load(f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func mustAbs(b *testing.B, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		b.Fatal(err)
	}
	return a
}
