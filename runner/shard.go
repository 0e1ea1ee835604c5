package runner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Shard returns the I-th of N shards of files (spec "I/N", run's
// --shard): the files sorted, every N-th from the I-th. The same set of
// files always splits the same way, the shards are disjoint, and together
// they are the whole set.
func Shard(files []string, spec string) ([]string, error) {
	is, ns, ok := strings.Cut(spec, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return nil, fmt.Errorf("--shard %q: write it as I/N with 1 <= I <= N, e.g. 2/4", spec)
	}
	sorted := append([]string(nil), files...)
	sort.Strings(sorted)
	var out []string
	for k, f := range sorted {
		if k%n == i-1 {
			out = append(out, f)
		}
	}
	return out, nil
}
