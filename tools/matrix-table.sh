#!/usr/bin/env bash
# Prints the Markdown table of `make matrix`: one row per scenario, one
# column per Consul version, from the reports in logs/matrix/VERSION.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
names=$(grep -hoE '^--- (PASS|FAIL|INTERRUPTED) [^:]+' $(printf "logs/matrix/%s.txt " "${versions[@]}") 2>/dev/null |
	sed -E 's/^--- [A-Z]+ //' | sort -u || true)
header="| scenario |"
rule="|---|"
for v in "${versions[@]}"; do header+=" $v |"; rule+="---|"; done
echo "$header"
echo "$rule"
for n in $names; do
	row="| \`$n\` |"
	for v in "${versions[@]}"; do
		verdict=$(grep -oE "^--- (PASS|FAIL|INTERRUPTED) $n:" "logs/matrix/$v.txt" | head -1 | awk '{print $2}' || true)
		row+=" ${verdict:-not run} |"
	done
	echo "$row"
done
