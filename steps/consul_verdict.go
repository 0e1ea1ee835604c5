package steps

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ConsulJudge is the consul binary whose `consul validate` has the last
// word on service definitions and config dirs when a scenario is loaded;
// empty when there is none (the definitions are then read by the mirror
// of Consul's decoder only). The CLI sets it from --consul, $CONSUL,
// bin/consul or PATH.
var ConsulJudge string

var verdicts sync.Map // cache key -> error (nil when valid)

// consulValidate runs `consul validate` on the given config files and
// dirs with a scratch data_dir, the way an agent would load them. Each
// distinct input is judged once per process.
func consulValidate(bin string, paths []string, fingerprint []byte) error {
	if bin == "" {
		return nil
	}
	h := sha256.New()
	fmt.Fprintln(h, bin)
	fmt.Fprintln(h, strings.Join(paths, "\x00"))
	h.Write(fingerprint)
	key := hex.EncodeToString(h.Sum(nil))
	if v, ok := verdicts.Load(key); ok {
		err, _ := v.(error)
		return err
	}
	err := runConsulValidate(bin, paths)
	verdicts.Store(key, err)
	return err
}

func runConsulValidate(bin string, paths []string) error {
	scratch, err := os.MkdirTemp("", "scenario-validate-")
	if err != nil {
		return nil // no verdict is not a failure of the scenario
	}
	defer os.RemoveAll(scratch)
	// What a dev agent would bring: somewhere to keep data and a bind
	// address that needs no private IP (a test namespace has none).
	base := filepath.Join(scratch, "scenario-base.hcl")
	baseHCL := fmt.Sprintf("data_dir = %q\nbind_addr = \"127.0.0.1\"\n", filepath.Join(scratch, "data"))
	if err := os.WriteFile(base, []byte(baseHCL), 0o600); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"validate", "-quiet", base}, paths...)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err == nil {
		return nil
	}
	if _, ok := err.(*exec.ExitError); !ok || ctx.Err() != nil {
		return nil // consul could not run: no verdict
	}
	msg := strings.TrimSpace(string(out))
	msg = strings.TrimPrefix(msg, "Config validation failed: ")
	msg = strings.ReplaceAll(msg, base, "(scratch config)")
	// One line: Consul lists several problems as "\n\t* ...".
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		msg = "consul validate failed without a message"
	}
	return fmt.Errorf("%s", msg)
}

var (
	verdictService = regexp.MustCompile(`service "([^"]*)"`)
	verdictKey     = regexp.MustCompile(`invalid config key (\S+)`)
)

// judgeServiceFile asks Consul about a parsed definition. The file is
// copied to a scratch dir under a name with its format's extension (an
// inline definition is written as JSON). The error points at the service
// or key Consul names.
func judgeServiceFile(f *ServiceFile) error {
	if ConsulJudge == "" {
		return nil
	}
	dir, err := os.MkdirTemp("", "scenario-definition-")
	if err != nil {
		return nil
	}
	defer os.RemoveAll(dir)
	copyPath := filepath.Join(dir, "definition."+f.Format)
	if err := os.WriteFile(copyPath, f.Data, 0o600); err != nil {
		return nil
	}
	verr := consulValidate(ConsulJudge, []string{copyPath}, append([]byte(f.Format), f.Data...))
	if verr == nil {
		return nil
	}
	msg := strings.ReplaceAll(verr.Error(), copyPath, f.Path)
	line, col := 1, 1
	if m := verdictKey.FindStringSubmatch(msg); m != nil {
		line, col = f.position(m[1])
	} else if m := verdictService.FindStringSubmatch(msg); m != nil {
		for _, s := range f.Services {
			if s.Reg.Name == m[1] {
				line, col = s.Line, s.Col
				break
			}
		}
	}
	return &DefinitionError{File: f.Path, Line: line, Col: col, Msg: "Consul refuses it: " + msg}
}

// judgeConfigDir asks Consul about a whole config dir, as the agent
// started with -config-dir would load it.
func judgeConfigDir(dir string, files []string) error {
	if ConsulJudge == "" {
		return nil
	}
	var fingerprint bytes.Buffer
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&fingerprint, "%s %d\n", f, len(data))
		fingerprint.Write(data)
	}
	if err := consulValidate(ConsulJudge, []string{dir}, fingerprint.Bytes()); err != nil {
		return fmt.Errorf("Consul refuses the config dir %s: %v", dir, err)
	}
	return nil
}
