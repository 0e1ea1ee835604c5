package consuldef

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Consul's verdict is asked once per distinct definition (kept on disk
// across runs), and its message points at the service it names.
func TestConsulVerdictIsMappedAndKept(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	calls := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "consul")
	script := "#!/bin/sh\necho \"$@\" >> " + calls + "\n" +
		"case \"$*\" in *definition.hcl*) echo 'Config validation failed: service \"web\": Port or SocketPath must be set'; exit 1;; esac\nexit 0\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	judge := ConsulJudge{Consul: fake}
	t.Cleanup(forgetVerdicts)

	hcl := []byte("# two services\nservices {\n  name = \"api\"\n}\nservices {\n  name = \"web\"\n}\n")
	for i := 0; i < 2; i++ {
		forgetVerdicts() // as a new process would start
		f, err := ParseServiceFile("defs/two.hcl", hcl, "hcl", false)
		if err != nil {
			t.Fatal(err)
		}
		err = judge.JudgeServiceFile(f)
		if err == nil || err.Error() != `defs/two.hcl:5:1: Consul refuses it: service "web": Port or SocketPath must be set` {
			t.Fatalf("run %d: %v", i, err)
		}
		j, _ := ParseServiceFile("defs/one.json", []byte(`{"service": {"name": "x"}}`), "json", false)
		if err := judge.JudgeServiceFile(j); err != nil {
			t.Fatalf("valid: %v", err)
		}
	}
	data, _ := os.ReadFile(calls)
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Errorf("consul validate ran %d times for 2 distinct files over 2 runs:\n%s", n, data)
	}
}

func forgetVerdicts() {
	verdicts.Range(func(k, _ any) bool { verdicts.Delete(k); return true })
}
