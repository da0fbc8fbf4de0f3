#!/usr/bin/env bash
# Event path cost at a steady exec rate: bench/pacer starts RATE /bin/true
# per second for DURATION seconds while one collector runs: each osqueryd
# build named in CANDIDATES (label=path, on its embedded default config:
# audit, process_events with ancestry, the default schedule) and Debian's
# auditd with the same exec rule. They run interleaved, ROUNDS times, so a
# noisy neighbour hits all of them. Reports the collector's CPU per exec
# (user+system, including 3 s of draining after the load) and the medians.
#
# Root, audit to itself (make bench-paced takes the audit test lock):
#   bench/paced_exec.sh
#   CANDIDATES="new=bin/osqueryd old=/tmp/old/osqueryd" RATE=300 bench/paced_exec.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RATE=${RATE:-300}
DURATION=${DURATION:-30}
ROUNDS=${ROUNDS:-3}
CANDIDATES=${CANDIDATES:-gosquery=bin/osqueryd}
OUT=${OUT:-bench/results/paced_exec.md}
make -s build
go build -o bin/pacer ./bench/pacer

median() { sort -g | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else printf "%.0f\n", (v[NR/2]+v[NR/2+1])/2}'; }

# load runs the pacer and prints "started missed".
load() { bin/pacer -rate "$RATE" -for "${DURATION}s" /bin/true gosq-paced; }

# measure PID: CPU of PID in ms over the load and 3 s after; prints
# "cpu_ms started missed".
measure() {
	local c0 c1 res
	c0=$(cpu_ticks "$1")
	res=$(load)
	sleep 3
	c1=$(cpu_ticks "$1")
	echo "$(((c1 - c0) * 1000 / $(getconf CLK_TCK))) $res"
}

run_osqueryd() {
	local bin=$1 dir d out
	dir=$(mktemp -d /tmp/gosq-paced.XXXX)
	"$bin" --database_path="$dir/db" --logger_path="$dir/log" --pidfile="$dir/pid" --logger_stderr=false --disable_watchdog &
	d=$!
	sleep 5
	out=$(measure "$d")
	kill -TERM "$d"
	wait "$d" 2>/dev/null || true
	rm -rf "$dir"
	echo "$out"
}

run_auditd() {
	local out
	auditd_start gosq-paced-bench
	out=$(measure "$AUDITD_PID")
	auditd_stop gosq-paced-bench
	echo "$out"
}

if ! command -v auditd >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null 2>&1 || true
fi
names=()
for c in $CANDIDATES; do names+=("${c%%=*}"); done
command -v auditd >/dev/null && names+=(auditd)
declare -A us
{
	echo "## Paced exec load: $RATE /bin/true per second for ${DURATION}s, $ROUNDS interleaved rounds"
	echo
	echo "CPU per exec of the collector (user+system over the load and 3 s of draining)."
	echo
} | tee "$OUT"
for r in $(seq "$ROUNDS"); do
	line="- round $r:"
	for c in $CANDIDATES; do
		read -r cpu started missed <<<"$(run_osqueryd "${c#*=}")"
		u=$((cpu * 1000 / started))
		us[${c%%=*}]+="$u "
		line+=" ${c%%=*} $u us/exec ($cpu ms, $started execs, $missed missed ticks);"
	done
	if command -v auditd >/dev/null; then
		read -r cpu started missed <<<"$(run_auditd)"
		u=$((cpu * 1000 / started))
		us[auditd]+="$u "
		line+=" auditd $u us/exec ($cpu ms, $started execs);"
	fi
	echo "$line" | tee -a "$OUT"
done
{
	echo
	printf 'Medians:'
	for n in "${names[@]}"; do printf ' %s %s us/exec;' "$n" "$(tr ' ' '\n' <<<"${us[$n]}" | grep . | median)"; done
	echo
} | tee -a "$OUT"
