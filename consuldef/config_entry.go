package consuldef

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/hcl"
	"github.com/mitchellh/mapstructure"
)

// ParseConfigEntry reads a config entry file the way `consul config
// write` does (Consul v1.15.4, command/helpers.ParseConfigEntry): JSON
// when its first non-space character is "{", else HCL, then decoded into
// the API's type for its kind. Reading it into that type, rather than
// looking into the raw map, is what makes every spelling Consul accepts
// mean the same: HCL blocks (a list of maps), HCL lists, JSON, snake_case
// and CamelCase keys.
func ParseConfigEntry(data []byte) (api.ConfigEntry, error) {
	raw, err := RawConfigEntry(data)
	if err != nil {
		return nil, err
	}
	return DecodeConfigEntry(raw)
}

// RawConfigEntry decodes a config entry file into a map as
// command/helpers.hclDecode does: JSON when its first non-space character
// is "{" (Consul bypasses HCL's JSON reader, which nests objects
// differently), else HCL, where a block is a list of maps.
func RawConfigEntry(data []byte) (map[string]any, error) {
	var raw map[string]any
	var err error
	if isHCL(data) {
		err = hcl.Decode(&raw, string(data))
	} else {
		err = json.Unmarshal(data, &raw)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to decode config entry input: %v", err)
	}
	return raw, nil
}

func isHCL(data []byte) bool {
	for off := 0; off < len(data); {
		r, w := utf8.DecodeRune(data[off:])
		off += w
		if !unicode.IsSpace(r) {
			return r != '{'
		}
	}
	return true
}

// ErrNoKind is EntryKind's error for an entry with neither Kind nor kind.
var ErrNoKind = errors.New("payload does not contain a kind/Kind key at the top level")

// EntryKind is the kind Consul reads from a raw entry: "Kind", else
// "kind", and no other spelling (command/helpers.newDecodeConfigEntry).
// An entry with both is of the kind "Kind" says, whatever the order of
// the keys.
func EntryKind(raw map[string]any) (string, error) {
	v, ok := raw["Kind"]
	if !ok {
		v, ok = raw["kind"]
	}
	if !ok {
		return "", ErrNoKind
	}
	s, ok := v.(string)
	if !ok {
		return "", errors.New("kind value in payload is not a string")
	}
	return s, nil
}

// DecodeConfigEntry decodes a raw config entry (as JSON or HCL decode it,
// or as an inline mapping) into the API's type for its kind, with the
// decoder and hooks of command/helpers.newDecodeConfigEntry: keys match
// case-insensitively, snake_case aliases are translated, a block of one
// is unpacked, and an unknown key is an error.
func DecodeConfigEntry(raw map[string]any) (api.ConfigEntry, error) {
	kind, err := EntryKind(raw)
	if err != nil {
		return nil, err
	}
	entry, err := api.MakeConfigEntry(kind, "")
	if err != nil {
		return nil, err
	}
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			hookWeakDecodeFromSlice,
			hookTranslateKeys,
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToTimeHookFunc(time.RFC3339),
		),
		Metadata:         &md,
		Result:           &entry,
		WeaklyTypedInput: true,
	})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(raw); err != nil {
		return nil, err
	}
	// mapstructure lists unused keys in map order; sorted, the message is
	// the same on every run.
	sort.Strings(md.Unused)
	var errs []error
	for _, k := range md.Unused {
		switch k {
		case "kind", "Kind":
			// Consul reads the kind from it, not into the entry.
			continue
		}
		errs = append(errs, fmt.Errorf("invalid config key %q", k))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return entry, nil
}
