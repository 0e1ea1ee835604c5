package consuldef

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAgentSettingsIgnoreCommentedOutLines(t *testing.T) {
	dir := t.TempDir()
	hclFile := `# acl { default_policy = "deny" }
// initial_management = "commented"
/* acl { tokens { initial_management = "block-commented" } } */
acl {
  enabled = true
  # default_policy = "deny"
}
`
	if err := os.WriteFile(filepath.Join(dir, "acl.hcl"), []byte(hclFile), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAgentSettings(AgentSources{Paths: []string{dir}, HCL: []string{`# acl { tokens { master = "flag-commented" } }`}})
	if err != nil {
		t.Fatal(err)
	}
	if got.ManagementToken != "" || got.DefaultPolicy != "" {
		t.Errorf("a commented-out line set %+v; Consul reads none of them", got)
	}
}

func TestAgentSettingsAreReadFromFilesThenFlagsTheLaterWinning(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.json": `{"acl": {"default_policy": "deny", "tokens": {"initial_management": "from-a"}}}`,
		"b.hcl":  `acl { tokens { initial_management = "from-b" } }` + "\nleave_on_terminate = true\n",
		"c.txt":  `acl { tokens { initial_management = "not-loaded" } }`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadAgentSettings(AgentSources{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if got.ManagementToken != "from-b" || got.DefaultPolicy != "deny" || got.LeaveOnTerminate == nil || !*got.LeaveOnTerminate {
		t.Errorf("settings = %+v, want from-b, deny, leave_on_terminate true", got)
	}
	got, err = ReadAgentSettings(AgentSources{Paths: []string{dir}, HCL: []string{`acl { default_policy = "allow" }`, `acl_master_token = "old-name"`}})
	if err != nil {
		t.Fatal(err)
	}
	if got.DefaultPolicy != "allow" {
		t.Errorf("default_policy = %q: an -hcl flag overrides the config dir", got.DefaultPolicy)
	}
	if got.ManagementToken != "old-name" {
		t.Errorf("token = %q: a later source's acl_master_token (its older name) overrides the config dir's", got.ManagementToken)
	}
}

func TestAgentSettingsReportInvalidHCL(t *testing.T) {
	if _, err := ReadAgentSettings(AgentSources{HCL: []string{`acl { default_policy = `}}); err == nil {
		t.Error("an unfinished -hcl value was accepted")
	}
}

// writeFiles writes files (name: text) under dir, making folders on the
// way.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Consul merges -config-file and -config-dir in the order given (a
// directory's files in name order), then every -hcl, whatever their place
// among the other flags: a later source wins.
func TestAgentSettingsMergeConfigPathsInArgumentOrderThenTheHCLFlags(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"first.hcl":        `acl { default_policy = "deny" tokens { initial_management = "from-first" } }`,
		"d/a.json":         `{"acl": {"tokens": {"initial_management": "from-d-a"}}, "leave_on_terminate": true}`,
		"d/b.hcl":          `acl { tokens { initial_management = "from-d-b" } }`,
		"d/sub/c.hcl":      `acl { tokens { initial_management = "from-a-subdirectory" } }`,
		"d/notes.txt":      `acl { tokens { initial_management = "from-a-txt" } }`,
		"d/UPPER.JSON":     `{"acl": {"tokens": {"initial_management": "from-an-upper-case-extension"}}}`,
		"last.json":        `{"leave_on_terminate": false}`,
		"override.hcl":     `acl { default_policy = "allow" }`,
		"elsewhere/z.hcl":  `acl { tokens { initial_management = "through-a-link" } }`,
		"linked/keep.json": `{}`,
	})
	if err := os.Symlink(filepath.Join(dir, "elsewhere", "z.hcl"), filepath.Join(dir, "linked", "z.hcl")); err != nil {
		t.Fatal(err)
	}
	args := []string{"-hcl", `acl { tokens { initial_management = "from-hcl" } }`, "-config-file", "first.hcl", "--config-dir=d", "-server", "-config-file", "last.json"}
	parsed, err := ParseAgentArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range Values(parsed.ConfigPaths) {
		paths = append(paths, filepath.Join(dir, p))
	}
	src := AgentSources{Paths: paths, HCL: Values(parsed.HCL)}
	got, err := ReadAgentSettings(src)
	if err != nil {
		t.Fatal(err)
	}
	// The -hcl, first on the command line, still comes after every file.
	if got.ManagementToken != "from-hcl" || got.DefaultPolicy != "deny" || got.LeaveOnTerminate == nil || *got.LeaveOnTerminate {
		t.Errorf("settings = %+v, want the -hcl token, first.hcl's deny, last.json's leave_on_terminate false", got)
	}
	src.HCL = nil
	if got, _ := ReadAgentSettings(src); got.ManagementToken != "from-d-b" {
		t.Errorf("token = %q: d/b.hcl comes last among the files that set it (no subdirectory, no .txt, no .JSON)", got.ManagementToken)
	}
	src.Paths = append(src.Paths, filepath.Join(dir, "override.hcl"), filepath.Join(dir, "linked"))
	if got, _ := ReadAgentSettings(src); got.DefaultPolicy != "allow" || got.ManagementToken != "through-a-link" {
		t.Errorf("settings = %+v: a later file overrides an earlier one, and a directory's link is followed", got)
	}
}

// With -config-format, every file is read in that format, whatever its
// name, and a directory's files without .json or .hcl are read too;
// without it, a -config-file of another extension is refused, as Consul
// refuses it.
func TestConfigFormatReadsEveryFileInIt(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"acl.conf":     `acl { default_policy = "deny" }`,
		"d/a.json":     `acl { tokens { initial_management = "hcl-in-a-json-file" } }`,
		"d/b.settings": `leave_on_terminate = true`,
	})
	got, err := ReadAgentSettings(AgentSources{Paths: []string{filepath.Join(dir, "acl.conf"), filepath.Join(dir, "d")}, Format: "hcl"})
	if err != nil {
		t.Fatal(err)
	}
	if got.DefaultPolicy != "deny" || got.ManagementToken != "hcl-in-a-json-file" || got.LeaveOnTerminate == nil || !*got.LeaveOnTerminate {
		t.Errorf("settings = %+v, want every file read as HCL", got)
	}
	_, err = ReadAgentSettings(AgentSources{Paths: []string{filepath.Join(dir, "acl.conf")}})
	if err == nil || !strings.Contains(err.Error(), "must end in .hcl or .json, or -config-format must be set") {
		t.Errorf("a -config-file acl.conf without -config-format: %v", err)
	}
	if files, err := ConfigFilesAt(filepath.Join(dir, "d"), ""); err != nil || len(files) != 1 || filepath.Base(files[0]) != "a.json" {
		t.Errorf("without -config-format the directory gives %q, %v; want a.json only", files, err)
	}
}

// The flags say where the configuration comes from as consul agent reads
// them: -flag value and -flag=value, one or two dashes, a boolean flag
// without a value; what Consul refuses is refused at its argument.
func TestAgentArgsAreParsedAsConsulParsesThem(t *testing.T) {
	got, err := ParseAgentArgs([]string{"-server", "-config-file", "a.hcl", "--config-dir=d", "-node", "hcl", "-ui=true", "-hcl", "x = 1", "-config-format", "json", "--hcl=y = 2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []AgentArg{{"config-file", "a.hcl", 2, false}, {"config-dir", "d", 3, true}}; !slices.Equal(got.ConfigPaths, want) {
		t.Errorf("config paths %+v, want %+v", got.ConfigPaths, want)
	}
	if got.Format() != "json" || !slices.Equal(Values(got.HCL), []string{"x = 1", "y = 2"}) {
		t.Errorf("format %q, hcl %q", got.Format(), Values(got.HCL))
	}
	if a := got.ConfigPaths[1]; a.WithValue("--config-dir=d", "/abs/d") != "--config-dir=/abs/d" || got.ConfigPaths[0].WithValue("a.hcl", "/abs/a.hcl") != "/abs/a.hcl" {
		t.Errorf("a value is not replaced where it is written")
	}
	for _, c := range []struct {
		args  []string
		index int
		msg   string
	}{
		{[]string{"-config-file"}, 0, "flag needs an argument: -config-file"},
		{[]string{"-config-fil", "a.hcl"}, 0, "flag provided but not defined: -config-fil"},
		{[]string{"-server", "a.hcl"}, 1, `"a.hcl" is not a flag`},
		{[]string{"-dev=maybe"}, 0, `invalid boolean value "maybe" for -dev`},
		{[]string{"--", "-hcl", "x"}, 1, `"-hcl" follows "--"`},
		{[]string{"---hcl", "x"}, 0, "bad flag syntax: ---hcl"},
	} {
		_, err := ParseAgentArgs(c.args)
		var ae *AgentArgError
		if !errors.As(err, &ae) || ae.Index != c.index || !strings.Contains(ae.Msg, c.msg) {
			t.Errorf("%q: %v, want %q at argument %d", c.args, err, c.msg, c.index)
		}
	}
}

// The parser agrees with Go's flag package, which consul agent uses, on
// where the flags end and which arguments are values, given the same
// flags: the boolean ones take no value unless after '='.
func TestAgentArgsEndWhereGosFlagPackageEndsThem(t *testing.T) {
	for _, args := range [][]string{
		{"-dev", "-hcl", "x"}, {"-ui", "-config-dir", "d", "-server"}, {"-node", "-hcl"},
		{"-server=false", "-config-file=a.json"}, {"--log-level", "debug", "-rejoin"},
		{"-config-file"}, {"-bogus"}, {"-ui", "extra"}, {"--", "x"}, {"-hcl", "a", "--"}, {"-"}, {"-=x"},
	} {
		fs := flag.NewFlagSet("agent", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var hcl []string
		for name := range agentBoolFlags {
			fs.Bool(name, false, "")
		}
		for name := range agentValueFlags {
			fs.Func(name, "", func(v string) error {
				if name == "hcl" {
					hcl = append(hcl, v)
				}
				return nil
			})
		}
		goErr := fs.Parse(args)
		goOK := goErr == nil && fs.NArg() == 0 // consul agent refuses extra arguments
		got, err := ParseAgentArgs(args)
		if (err == nil) != goOK {
			t.Errorf("%q: ours %v, Go's flag package %v with %d extra arguments", args, err, goErr, fs.NArg())
			continue
		}
		if goOK && !slices.Equal(Values(got.HCL), hcl) {
			t.Errorf("%q: -hcl %q, Go's flag package %q", args, Values(got.HCL), hcl)
		}
	}
}
