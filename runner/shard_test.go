package runner

import (
	"fmt"
	"strings"
	"testing"
)

// The shards of a set of files do not depend on the order given, are
// disjoint and cover the set; a malformed I/N is refused.
func TestShardsAreDisjointAndCoverTheFiles(t *testing.T) {
	files := []string{"e.yaml", "a.yaml", "c.yaml", "b.yaml", "d.yaml"}
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		got, err := Shard(files, fmt.Sprintf("%d/3", i))
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Shard([]string{"d.yaml", "c.yaml", "b.yaml", "a.yaml", "e.yaml"}, fmt.Sprintf("%d/3", i))
		if strings.Join(got, ",") != strings.Join(again, ",") {
			t.Errorf("shard %d depends on the order given: %v vs %v", i, got, again)
		}
		for _, f := range got {
			seen[f]++
		}
	}
	if len(seen) != len(files) {
		t.Errorf("shards cover %v", seen)
	}
	for f, n := range seen {
		if n != 1 {
			t.Errorf("%s in %d shards", f, n)
		}
	}
	for _, bad := range []string{"0/3", "4/3", "1", "a/b", "1/0"} {
		if _, err := Shard(files, bad); err == nil {
			t.Errorf("--shard %s accepted", bad)
		}
	}
}
