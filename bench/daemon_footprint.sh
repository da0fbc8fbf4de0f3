#!/usr/bin/env bash
# Daemon footprint: osqueryd on its embedded default config (audit on,
# process_events with ancestry, the default schedule), idle for IDLE
# seconds, then under a paced workload of RATE execs per second for LOAD
# seconds. Reports RSS and CPU (% of one core) for both phases, against
# osquery's watchdog limits (200 MB, 10%). Root, audit to itself.
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${IDLE:-60}
LOAD=${LOAD:-30}
RATE=${RATE:-500}
OUT=bench/results/daemon_footprint.md
make -s build
dir=$(mktemp -d /tmp/gosq-footprint.XXXX)
bin/osqueryd --database_path="$dir/db" --logger_path="$dir/log" --pidfile="$dir/pid" \
	--logger_stderr=false &
d=$!
trap 'kill -TERM $d 2>/dev/null; wait $d 2>/dev/null; rm -rf "$dir"' EXIT
sleep 5

ticks() { awk '{print $14 + $15}' "/proc/$d/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$d/status"; }
hz=$(getconf CLK_TCK)

c0=$(ticks); t0=$(date +%s.%N)
sleep "$IDLE"
c1=$(ticks); t1=$(date +%s.%N)
idle_cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", c/hz*100/(b-a)}')
idle_rss=$(rss_mb)

# A paced exec load: two loops, each RATE/2 /bin/true per second in
# batches every 10 ms (bash arithmetic, so the pacing itself execs nothing
# else).
per=$((RATE / 200))
loops=()
for _ in 1 2; do
	( end=$((SECONDS + LOAD)); while [ $SECONDS -lt $end ]; do
		for ((k = 0; k < per; k++)); do /bin/true gosq-footprint; done
		sleep 0.01
	done ) &
	loops+=($!)
done
w=${loops[0]}
c2=$(ticks); t2=$(date +%s.%N)
peak=0
while kill -0 "$w" 2>/dev/null; do
	r=$(rss_mb); peak=$(awk -v a="$peak" -v b="$r" 'BEGIN{print (b>a)?b:a}'); sleep 1
done
c3=$(ticks); t3=$(date +%s.%N)
load_cpu=$(awk -v c="$((c3 - c2))" -v hz="$hz" -v a="$t2" -v b="$t3" 'BEGIN{printf "%.2f", c/hz*100/(b-a)}')
wait "${loops[@]}"
sleep 12
execs=$(grep -c 'gosq-footprint' "$dir/log/osqueryd.results.log" 2>/dev/null || echo 0)

{
	echo "## osqueryd footprint (embedded default config)"
	echo
	echo "| phase | CPU (% of one core) | RSS |"
	echo "|---|---|---|"
	echo "| idle ${IDLE}s | $idle_cpu% | $idle_rss MB |"
	echo "| paced exec load for ${LOAD}s (target ${RATE}/s) | $load_cpu% | peak $peak MB |"
	echo
	echo "process_events rows logged for the workload: $execs in ${LOAD}s ($((execs / LOAD))/s); osquery's watchdog allows 200 MB and 10%"
} | tee "$OUT"
