package consuldef

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/mitchellh/mapstructure"
)

// AgentSettings are the few parts of an agent's configuration the runner
// acts on, read the way the agent reads them: decoded (so a commented-out
// line sets nothing), from every source in the agent's order (see
// AgentSources), a later source overriding an earlier one.
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

// AgentSources are where an agent's configuration comes from, as Consul
// v1.15.4 merges them (agent/config/builder.go, newBuilder): the files of
// Paths (the -config-dir and -config-file values, in the order given;
// each directory's files in name order), then the -hcl values in order,
// a later source overriding an earlier one.
type AgentSources struct {
	Paths  []string
	Format string // -config-format: every file is read in it; "" by its extension
	HCL    []string
}

// ReadAgentSettings reads the settings of an agent configured by src.
func ReadAgentSettings(src AgentSources) (AgentSettings, error) {
	var out AgentSettings
	for _, p := range src.Paths {
		files, err := ConfigFilesAt(p, src.Format)
		if err != nil {
			return out, err
		}
		for _, path := range files {
			data, err := ReadDefinition(path)
			if err != nil {
				return out, err
			}
			if err := out.Apply(data, ConfigFileFormat(path, src.Format)); err != nil {
				return out, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	for _, h := range src.HCL {
		if err := out.Apply([]byte(h), "hcl"); err != nil {
			return out, fmt.Errorf("-hcl %q: %w", h, err)
		}
	}
	return out, nil
}

// ConfigFilesAt lists the files the agent reads for one -config-file or
// -config-dir value, as Consul's sourcesFromPath does: a file is read
// whole (it must end in .json or .hcl unless format is set); of a
// directory, every file (symbolic links followed, directories skipped)
// ending in .json or .hcl, or every file when format is set, in name
// order.
func ConfigFilesAt(path, format string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if format == "" && extensionFormat(path) == "" {
			return nil, fmt.Errorf("%s has an extension Consul does not read: it must end in .hcl or .json, or -config-format must be set", path)
		}
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			if p, err = filepath.EvalSymlinks(p); err != nil {
				return nil, err
			}
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if st.IsDir() || format == "" && extensionFormat(p) == "" {
			continue
		}
		files = append(files, p)
	}
	return files, nil
}

// ConfigFileFormat is the format the agent reads a config file in:
// format when set (-config-format), else by its extension.
func ConfigFileFormat(path, format string) string {
	if format != "" {
		return format
	}
	return extensionFormat(path)
}

// extensionFormat is Consul's formatFromFileExtension: ".json" or ".hcl",
// in lower case, else "".
func extensionFormat(path string) string {
	switch {
	case strings.HasSuffix(path, ".json"):
		return "json"
	case strings.HasSuffix(path, ".hcl"):
		return "hcl"
	}
	return ""
}

// Apply decodes one source, in format ("json" or "hcl"), and overrides
// what it sets.
func (s *AgentSettings) Apply(data []byte, format string) error {
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
