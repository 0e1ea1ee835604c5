package consuldef

import (
	"strings"
	"testing"
)

// Key positions come from encoding/json's tokens: a key is found where it
// is, whatever the values around it look like.
func TestJSONKeyPositionsFromTokens(t *testing.T) {
	src := "{\"service\": {\"name\":\"port\", \"meta\": {\"k\": \"\\\"port\\\": 1\"},\n" +
		"   \"port\":\"80\",\n" +
		"   \"checks\": [{\"id\": \"a\"}, {\"ttl\": \"1s\", \"intervl\": \"1s\"}]}}"
	p := jsonPositions([]byte(src))
	lines := strings.Split(src, "\n")
	for path, want := range map[string]string{
		"service":                   `"service"`,
		"service.port":              `"port":"80"`,
		"service.meta.k":            `"k"`,
		"service.checks[1]":         `{"ttl"`,
		"service.checks[1].intervl": `"intervl"`,
		"service[0].checks[1].ttl":  `"ttl"`,
	} {
		line, col := p.position(path)
		if line < 1 || line > len(lines) || !strings.HasPrefix(lines[line-1][col-1:], want) {
			t.Errorf("%s at %d:%d, want the place of %s", path, line, col, want)
		}
	}
	f, err := ParseServiceFile("x.json", []byte(src), "json", false)
	if f != nil || err == nil || !strings.Contains(err.Error(), "x.json:2:4: service.port") {
		t.Errorf("error: %v", err)
	}
}
