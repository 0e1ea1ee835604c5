package consuldef

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// A ConsulJudge is the consul binary whose `consul validate` has the last
// word on service definitions and config dirs when a scenario is loaded.
// The zero value judges nothing (the definitions are then read by the
// mirror of Consul's decoder only). The CLI passes one, found from
// --consul, $CONSUL, bin/consul or PATH, as a load option.
type ConsulJudge struct{ Consul string }

var verdicts sync.Map // cache key -> error (nil when valid)

// consulValidate runs `consul validate` on the given config files and
// dirs (read in format, by their extensions when ""), with a scratch
// data_dir, the way an agent would load them. Each distinct input is
// judged once per process.
// names maps scratch paths to what messages should call them. The verdict
// is keyed by the binary and fingerprint (the input's names and contents),
// never by scratch paths.
func consulValidate(bin, format string, fingerprint []byte, prepare func() (paths []string, names map[string]string, cleanup func())) error {
	if bin == "" {
		return nil
	}
	h := sha256.New()
	fmt.Fprintln(h, bin)
	fmt.Fprintln(h, format)
	h.Write(fingerprint)
	// The same consul binary (path, size, modification time) gives the same
	// verdict on the same input, so verdicts are also kept on disk: `consul
	// validate` costs ~0.3 s a file, which a repeated run need not pay.
	if st, err := os.Stat(bin); err == nil {
		fmt.Fprintln(h, st.Size(), st.ModTime().UnixNano())
	}
	key := hex.EncodeToString(h.Sum(nil))
	if v, ok := verdicts.Load(key); ok {
		err, _ := v.(error)
		return err
	}
	cached, ok := readVerdict(key)
	if !ok {
		paths, names, cleanup := prepare()
		if paths == nil {
			return nil // no scratch space: no verdict
		}
		cached = runConsulValidate(bin, format, paths, names)
		cleanup()
		writeVerdict(key, cached)
	}
	verdicts.Store(key, cached)
	return cached
}

// verdictDir is where verdicts are kept across runs; "" when there is none.
func verdictDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "scenario", "consul-verdicts")
}

func readVerdict(key string) (error, bool) {
	dir := verdictDir()
	if dir == "" {
		return nil, false
	}
	data, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		return nil, false
	}
	if msg, bad := strings.CutPrefix(string(data), "invalid\n"); bad {
		return errors.New(msg), true
	}
	return nil, string(data) == "valid\n"
}

func writeVerdict(key string, verdict error) {
	dir := verdictDir()
	if dir == "" || os.MkdirAll(dir, 0o755) != nil {
		return
	}
	data := "valid\n"
	if verdict != nil {
		data = "invalid\n" + verdict.Error()
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.WriteString(data)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return
	}
	// Atomic, so that concurrent runs never read half a verdict.
	if os.Rename(tmp.Name(), filepath.Join(dir, key)) != nil {
		os.Remove(tmp.Name())
	}
}

func runConsulValidate(bin, format string, paths []string, names map[string]string) error {
	scratch, err := os.MkdirTemp("", "scenario-validate-")
	if err != nil {
		return nil // no verdict is not a failure of the scenario
	}
	defer os.RemoveAll(scratch)
	// What a dev agent would bring: somewhere to keep data and a bind
	// address that needs no private IP (a test namespace has none). In
	// JSON, which reads as HCL too, whatever -config-format says.
	base := filepath.Join(scratch, "scenario-base.json")
	baseJSON, _ := json.Marshal(map[string]string{"data_dir": filepath.Join(scratch, "data"), "bind_addr": "127.0.0.1"})
	if err := os.WriteFile(base, baseJSON, 0o600); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := []string{"validate", "-quiet"}
	if format != "" {
		args = append(args, "-config-format="+format)
	}
	args = append(append(args, base), paths...)
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
	for scratch, name := range names {
		msg = strings.ReplaceAll(msg, scratch, name)
	}
	// One line: Consul lists several problems as "\n\t* ...".
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		msg = "consul validate failed without a message"
	}
	return fmt.Errorf("%s", msg)
}

// checkPath finds the check Consul names (by its name; "" when it has
// none) among a service's checks, when exactly one matches.
func checkPath(s ServiceDef, name string) string {
	if s.def == nil {
		return ""
	}
	var found []string
	if c := s.def.Check; c != nil && deref(c.Name) == name {
		found = append(found, s.path+".check")
	}
	for i, c := range s.def.Checks {
		if deref(c.Name) == name {
			found = append(found, fmt.Sprintf("%s.checks[%d]", s.path, i))
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

var (
	verdictCheck   = regexp.MustCompile(`check "([^"]*)"`)
	verdictService = regexp.MustCompile(`service "([^"]*)"`)
	verdictKey     = regexp.MustCompile(`invalid config key (\S+)`)
)

// JudgeServiceFile asks Consul about a parsed definition. The file is
// copied to a scratch dir under a name with its format's extension (an
// inline definition is written as JSON). The error points at the service
// or key Consul names.
func (j ConsulJudge) JudgeServiceFile(f *ServiceFile) error {
	if j.Consul == "" {
		return nil
	}
	fingerprint := append([]byte(f.Path+"\x00"+f.format+"\x00"), f.data...)
	verr := consulValidate(j.Consul, "", fingerprint, func() ([]string, map[string]string, func()) {
		dir, err := os.MkdirTemp("", "scenario-definition-")
		if err != nil {
			return nil, nil, nil
		}
		copyPath := filepath.Join(dir, "definition."+f.format)
		if err := os.WriteFile(copyPath, f.data, 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, nil, nil
		}
		return []string{copyPath}, map[string]string{copyPath: f.Path}, func() { os.RemoveAll(dir) }
	})
	if verr == nil {
		return nil
	}
	msg := verr.Error()
	line, col, key := 1, 1, ""
	if m := verdictKey.FindStringSubmatch(msg); m != nil {
		key = m[1]
		line, col = f.position(key)
	} else if m := verdictService.FindStringSubmatch(msg); m != nil {
		for _, s := range f.Services {
			if s.Reg.Name == m[1] {
				line, col, key = s.Line, s.Col, s.path
				if c := verdictCheck.FindStringSubmatch(msg); c != nil {
					if path := checkPath(s, c[1]); path != "" {
						key = path
						line, col = f.position(path)
					}
				}
				break
			}
		}
	}
	return &DefinitionError{File: f.Path, Line: line, Col: col, Key: key, Msg: "Consul refuses it: " + msg}
}

// JudgeAgentConfig asks Consul about an agent's config files as the agent
// loads them: paths are its -config-dir and -config-file values, in
// order, files what they hold (for the verdict's key), format its
// -config-format.
func (j ConsulJudge) JudgeAgentConfig(paths, files []string, format string) error {
	if j.Consul == "" || len(paths) == 0 {
		return nil
	}
	var fingerprint bytes.Buffer
	for _, p := range paths {
		fmt.Fprintln(&fingerprint, p)
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&fingerprint, "%s %d\n", f, len(data))
		fingerprint.Write(data)
	}
	if err := consulValidate(j.Consul, format, fingerprint.Bytes(), func() ([]string, map[string]string, func()) {
		return paths, nil, func() {}
	}); err != nil {
		return fmt.Errorf("the agent's configuration is refused by Consul: %v", err)
	}
	return nil
}
