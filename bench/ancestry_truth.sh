#!/usr/bin/env bash
# The share of exactly correct ancestry chains under pressure, at several
# process_ancestry_cache_size values: the ground-truth scenarios of
# e2e/truth_test.go (a tree of live holders whose leaves exec, parents that
# exit right after their child's exec, double forks, subshells, pid reuse
# with kernel.pid_max lowered to 2000), each row checked against what its
# processes recorded of themselves. A row is exact, incomplete (marked so,
# every element it has right) or wrong.
#
# Root (audit, pid_max):
#   bench/ancestry_truth.sh                 (cache sizes 50 500 20000, scale 2)
#   SIZES="50 1000" SCALE=1 bench/ancestry_truth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-50 500 20000}
SCALE=${SCALE:-2}
OUT=bench/results/ancestry_truth.md
mkdir -p bench/results/tmp
log=bench/results/tmp/ancestry_truth.log
GOSQ_TRUTH_CACHE_SIZES="$SIZES" GOSQ_TRUTH_SCALE="$SCALE" \
	go test -count=1 -timeout 60m -run '^TestAncestryTruth(PidReuse)?$' -v ./e2e/ >"$log" 2>&1 || true
{
	echo "## Ancestry against ground truth: cache sizes $SIZES, scale $SCALE"
	echo
	echo "| scenario | cache size | rows | exact | incomplete | wrong | missing |"
	echo "|---|---|---|---|---|---|---|"
	grep -o 'truth: scenario=.*' "$log" | sed -E 's/truth: scenario=([a-z_]+) cache=([0-9]+) rows=([0-9]+) exact=([0-9]+) \(([0-9.]+%)\) incomplete=([0-9]+) wrong=([0-9]+) missing=([0-9]+)/| \1 | \2 | \3 | \4 (\5) | \6 | \7 | \8 |/'
	echo
	echo "Cache counters at the end of each size's run of the first four scenarios:"
	echo
	grep -o 'cache stats: .*' "$log" | sed 's/^/- /'
	echo
	grep -E '^(ok|FAIL|--- FAIL)' "$log" | sed 's/^/    /'
} | tee "$OUT"
echo "full log: $log"
