package consuldef

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/mitchellh/mapstructure"
)

// AgentSettings are the few parts of an agent's configuration the runner
// acts on, read the way the agent reads them: decoded (so a commented-out
// line sets nothing), config-dir files in name order, then the -hcl
// flags, a later source overriding an earlier one.
type AgentSettings struct {
	// ManagementToken is acl.tokens.initial_management (or its older
	// names), which the runner's own API calls use.
	ManagementToken string
	// DefaultPolicy is acl.default_policy ("" when unset: Consul's allow).
	DefaultPolicy string
	// LeaveOnTerminate is leave_on_terminate when set.
	LeaveOnTerminate *bool
}

// agentSettingsFile mirrors the fields of Consul v1.15.4's agent/config
// Config (and DeprecatedConfig) behind AgentSettings; every other key is
// left to Consul.
type agentSettingsFile struct {
	ACL struct {
		DefaultPolicy *string `mapstructure:"default_policy"`
		Tokens        struct {
			InitialManagement *string `mapstructure:"initial_management"`
			Master            *string `mapstructure:"master"`
		} `mapstructure:"tokens"`
	} `mapstructure:"acl"`
	ACLMasterToken   *string `mapstructure:"acl_master_token"`
	ACLDefaultPolicy *string `mapstructure:"acl_default_policy"`
	LeaveOnTerminate *bool   `mapstructure:"leave_on_terminate"`
}

// ReadAgentSettings reads the settings of an agent started with the
// config files in configDir ("" for none) and the given -hcl flag values.
func ReadAgentSettings(configDir string, hclFlags []string) (AgentSettings, error) {
	var out AgentSettings
	files, err := ConfigDirFiles(configDir)
	if err != nil {
		return out, err
	}
	for _, path := range files {
		format, _ := DefinitionFormat(path)
		data, err := ReadDefinition(path)
		if err != nil {
			return out, err
		}
		if err := out.apply(data, format); err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
	}
	for _, h := range hclFlags {
		if err := out.apply([]byte(h), "hcl"); err != nil {
			return out, fmt.Errorf("-hcl %q: %w", h, err)
		}
	}
	return out, nil
}

// ConfigDirFiles are the files an agent loads from dir: its .json and
// .hcl files, in name order.
func ConfigDirFiles(dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if _, err := DefinitionFormat(e.Name()); err == nil && !e.IsDir() {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// apply decodes one source and overrides what it sets.
func (s *AgentSettings) apply(data []byte, format string) error {
	var raw map[string]any
	var err error
	if format == "json" {
		err = json.Unmarshal(data, &raw)
	} else {
		err = hcl.Decode(&raw, string(data))
	}
	if err != nil {
		return fmt.Errorf("invalid %s: %v", strings.ToUpper(format), err)
	}
	var f agentSettingsFile
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(hookWeakDecodeFromSlice, hookTranslateKeys),
		Result:     &f,
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(raw); err != nil {
		return err
	}
	// Consul reads the newest name of a setting over its older ones.
	for _, token := range []*string{f.ACLMasterToken, f.ACL.Tokens.Master, f.ACL.Tokens.InitialManagement} {
		if token != nil {
			s.ManagementToken = *token
		}
	}
	for _, policy := range []*string{f.ACLDefaultPolicy, f.ACL.DefaultPolicy} {
		if policy != nil {
			s.DefaultPolicy = *policy
		}
	}
	if f.LeaveOnTerminate != nil {
		s.LeaveOnTerminate = f.LeaveOnTerminate
	}
	return nil
}
