package consuldef

import (
	"os"
	"path/filepath"
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
	got, err := ReadAgentSettings(dir, []string{`# acl { tokens { master = "flag-commented" } }`})
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
	got, err := ReadAgentSettings(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ManagementToken != "from-b" || got.DefaultPolicy != "deny" || got.LeaveOnTerminate == nil || !*got.LeaveOnTerminate {
		t.Errorf("settings = %+v, want from-b, deny, leave_on_terminate true", got)
	}
	got, err = ReadAgentSettings(dir, []string{`acl { default_policy = "allow" }`, `acl_master_token = "old-name"`})
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
	if _, err := ReadAgentSettings("", []string{`acl { default_policy = `}); err == nil {
		t.Error("an unfinished -hcl value was accepted")
	}
}
