#!/usr/bin/env bash
# Exec storm: LOOPS parallel shell loops fork+exec /bin/true for SECONDS,
# with nothing collecting, with gosquery collecting process_events (audit),
# and with Debian's auditd collecting the same rule. Reports execs done,
# rows stored, loss counters, rows with a complete ancestry chain,
# gosquery's CPU time per event and its RSS, side by side in one run.
#
# Run as root on a machine where nothing else owns audit:
#   bench/exec_storm.sh            (defaults: 4 loops, 10 s)
#   LOOPS=2 SECONDS_PER_RUN=5 bench/exec_storm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LOOPS=${LOOPS:-4}
DURATION=${SECONDS_PER_RUN:-10}
OUT=bench/results/exec_storm.md
make -s build

# storm runs the loops and prints the total number of execs done.
storm() {
	local pids=() total=0
	for i in $(seq "$LOOPS"); do
		bash -c 'end=$((SECONDS+'"$DURATION"')); n=0; while [ $SECONDS -lt $end ]; do /bin/true gosq-storm; n=$((n+1)); done; echo $n' >"/tmp/gosq-storm.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq "$LOOPS"); do total=$((total + $(cat "/tmp/gosq-storm.$i"))); done
	rm -f /tmp/gosq-storm.*
	echo "$total"
}

# cpu_ticks prints utime+stime of a pid in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo "## Exec storm: $LOOPS loops x ${DURATION}s of fork+exec /bin/true" | tee "$OUT"
echo | tee -a "$OUT"

# 1. Nothing collecting.
base=$(storm)
echo "- nothing collecting: $base execs ($((base / DURATION))/s)" | tee -a "$OUT"

# 2. gosquery collecting: a shell with events on, fed through a FIFO so it
# stays up during the storm and answers afterwards.
fifo=$(mktemp -u /tmp/gosq-fifo.XXXX)
mkfifo "$fifo"
res=$(mktemp /tmp/gosq-res.XXXX)
GOMAXPROCS=${GOSQUERY_GOMAXPROCS:-} bin/osqueryi --disable_events=false --disable_audit=false --audit_allow_config=true \
	--audit_backlog_limit=8192 --process_ancestry_cache_size=20000 --events_max=1000000 \
	--list --header=false <"$fifo" >"$res" 2>/tmp/gosq-storm.err &
shell=$!
exec 9>"$fifo"
sleep 2
cpu0=$(cpu_ticks "$shell")
rss_max=0
( exec 9>&-; while kill -0 "$shell" 2>/dev/null; do r=$(rss_kb "$shell" 2>/dev/null || echo 0); echo "$r"; sleep 0.5; done ) >/tmp/gosq-rss &
sampler=$!
done_g=$(storm)
sleep 3 # let the reader drain
echo "select count(*) from process_events where cmdline = '/bin/true gosq-storm';" >&9
echo "select count(*) from process_events where cmdline = '/bin/true gosq-storm' and json_extract(ancestry, '\$[#-1].pid') = 1 and json_extract(ancestry, '\$[0].exe_name') = 'bash';" >&9
echo "select lost_total, kernel_lost_since_start, enobufs, queue_drops, sequence_gaps, reassembly_timeouts, procconn_lost from audit_status;" >&9
echo "select cache_hits, cache_misses, hit_rate from process_ancestry_cache_stats;" >&9
sleep 2
cpu1=$(cpu_ticks "$shell")
exec 9>&-
wait "$shell" || true
kill "$sampler" 2>/dev/null || true
rss_max=$(sort -n /tmp/gosq-rss | tail -1)
rm -f "$fifo" /tmp/gosq-rss
mapfile -t lines <"$res"
rm -f "$res"
stored=${lines[0]:-0}
complete=${lines[1]:-0}
ticks=$((cpu1 - cpu0))
echo "- gosquery collecting: $done_g execs ($((done_g / DURATION))/s), rows stored: $stored, rows with a complete ancestry (root pid 1, parent bash): $complete" | tee -a "$OUT"
echo "  - loss counters (lost_total|kernel_lost|enobufs|queue_drops|gaps|timeouts|procconn_lost): ${lines[2]:-?}" | tee -a "$OUT"
echo "  - ancestry cache (hits|misses|hit_rate): ${lines[3]:-?}" | tee -a "$OUT"
if [ "$stored" -gt 0 ]; then
	echo "  - gosquery CPU: $((ticks * 10)) ms for $stored events = $((ticks * 10000000 / stored)) ns/event; peak RSS $((rss_max / 1024)) MB" | tee -a "$OUT"
fi
echo "  - slowdown vs nothing: $(awk -v a="$base" -v b="$done_g" 'BEGIN{printf "%.1f%%", (a-b)*100/a}')" | tee -a "$OUT"

# 3. auditd collecting the same rule (installed for the benchmark, removed after).
if ! command -v auditd >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null 2>&1 || true
	installed_auditd=1
fi
if command -v auditd >/dev/null; then
	auditd -n >/dev/null 2>&1 &
	ad=$!
	sleep 1
	auditctl -a always,exit -F arch=b64 -S execve,execveat -k gosq-storm-bench >/dev/null
	auditctl -a always,exit -F arch=b32 -S execve,execveat -k gosq-storm-bench >/dev/null
	done_a=$(storm)
	auditctl -d always,exit -F arch=b64 -S execve,execveat -k gosq-storm-bench >/dev/null
	auditctl -d always,exit -F arch=b32 -S execve,execveat -k gosq-storm-bench >/dev/null
	kill "$ad"; wait "$ad" 2>/dev/null || true
	auditctl -e 0 >/dev/null 2>&1 || true
	echo "- auditd collecting: $done_a execs ($((done_a / DURATION))/s), slowdown vs nothing: $(awk -v a="$base" -v b="$done_a" 'BEGIN{printf "%.1f%%", (a-b)*100/a}')" | tee -a "$OUT"
	if [ "${installed_auditd:-0}" = 1 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq auditd libauparse0 >/dev/null 2>&1 || true
		rm -rf /var/log/audit
	fi
else
	echo "- auditd: not installable here, skipped" | tee -a "$OUT"
fi
