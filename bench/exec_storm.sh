#!/usr/bin/env bash
# Exec storm: LOOPS parallel shell loops fork+exec /bin/true for SECONDS,
# with nothing collecting, with gosquery collecting process_events (audit
# and the proc connector, with ancestry), and with Debian's auditd
# collecting the same rule. The three run interleaved, ROUNDS times, so a
# noisy neighbour hits all of them; the summary gives each round and the
# medians. Reports execs done, rows stored, loss counters, rows with a
# complete ancestry chain, CPU per event of the collector and gosquery's
# peak RSS.
#
# Run as root on a machine where nothing else owns audit:
#   bench/exec_storm.sh            (defaults: 4 loops, 10 s, 3 rounds)
#   LOOPS=2 SECONDS_PER_RUN=5 ROUNDS=1 bench/exec_storm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
LOOPS=${LOOPS:-4}
DURATION=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-3}
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

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", (a-b)*100/a}'; }
median() { sort -g | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'; }

# gosquery runs the storm under a shell with events on, fed through a FIFO
# so it stays up during the storm and answers afterwards. It prints
# "execs rows complete cpu_ms rss_mb losses cache".
gosquery() {
	local fifo res shell cpu0 cpu1 sampler done_g
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
	(exec 9>&-; while kill -0 "$shell" 2>/dev/null; do rss_kb "$shell" 2>/dev/null || echo 0; sleep 0.5; done) >/tmp/gosq-rss &
	sampler=$!
	done_g=$(storm)
	sleep 3 # let the reader drain
	cpu1=$(cpu_ticks "$shell")
	echo "select count(*) from process_events where cmdline = '/bin/true gosq-storm';" >&9
	echo "select count(*) from process_events where cmdline = '/bin/true gosq-storm' and json_extract(ancestry, '\$[#-1].pid') = 1 and json_extract(ancestry, '\$[0].exe_name') = 'bash';" >&9
	echo "select lost_total, kernel_lost_since_start, enobufs, queue_drops, sequence_gaps, reassembly_timeouts, procconn_lost from audit_status;" >&9
	echo "select cache_hits, cache_misses, hit_rate, catch_up_failures from process_ancestry_cache_stats;" >&9
	sleep 2
	exec 9>&-
	wait "$shell" || true
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	local rss_max
	rss_max=$(sort -n /tmp/gosq-rss | tail -1)
	rm -f "$fifo" /tmp/gosq-rss
	mapfile -t lines <"$res"
	rm -f "$res"
	# The CPU includes the 3 s of draining after the storm, not the queries.
	echo "$done_g ${lines[0]:-0} ${lines[1]:-0} $(((cpu1 - cpu0) * 10)) $((rss_max / 1024)) ${lines[2]:-?} ${lines[3]:-?}"
}

# auditd runs the storm with Debian's auditd collecting the same rule
# (installed for the benchmark if missing, removed after). It prints
# "execs cpu_ms".
auditd_run() {
	local cpu0 done_a
	auditd_start gosq-storm-bench
	cpu0=$(cpu_ticks "$AUDITD_PID")
	done_a=$(storm)
	echo "$done_a $((($(cpu_ticks "$AUDITD_PID") - cpu0) * 10))"
	auditd_stop gosq-storm-bench
}

installed_auditd=0
if ! command -v auditd >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null 2>&1 || true
	installed_auditd=1
fi
have_auditd=0
command -v auditd >/dev/null && have_auditd=1

{
	echo "## Exec storm: $LOOPS loops x ${DURATION}s of fork+exec /bin/true, $ROUNDS interleaved rounds"
	echo
} | tee "$OUT"
slow_g=() slow_a=() us_g=() us_a=()
for r in $(seq "$ROUNDS"); do
	base=$(storm)
	read -r done_g rows complete cpu_g rss losses cache <<<"$(gosquery)"
	sg=$(pct "$base" "$done_g")
	slow_g+=("$sg")
	ug=$((rows > 0 ? cpu_g * 1000 / rows : 0))
	us_g+=("$ug")
	{
		echo "- round $r: nothing collecting $base execs ($((base / DURATION))/s)"
		echo "  - gosquery: $done_g execs, slowdown $sg%; rows stored $rows, complete ancestry (root pid 1, parent bash) $complete"
		echo "    - CPU $cpu_g ms = $ug us/event; peak RSS $rss MB"
		echo "    - loss counters (lost_total|kernel_lost|enobufs|queue_drops|gaps|timeouts|procconn_lost): $losses"
		echo "    - ancestry cache (hits|misses|hit_rate|catch_up_failures): $cache"
	} | tee -a "$OUT"
	if [ "$have_auditd" = 1 ]; then
		read -r done_a cpu_a <<<"$(auditd_run)"
		sa=$(pct "$base" "$done_a")
		slow_a+=("$sa")
		ua=$((done_a > 0 ? cpu_a * 1000 / done_a : 0))
		us_a+=("$ua")
		echo "  - auditd: $done_a execs, slowdown $sa%; CPU $cpu_a ms = $ua us/event" | tee -a "$OUT"
	fi
done
{
	echo
	echo "Medians over $ROUNDS rounds: gosquery slowdown $(printf '%s\n' "${slow_g[@]}" | median)%, $(printf '%s\n' "${us_g[@]}" | median) us CPU/event"
	if [ "$have_auditd" = 1 ]; then
		echo "auditd slowdown $(printf '%s\n' "${slow_a[@]}" | median)%, $(printf '%s\n' "${us_a[@]}" | median) us CPU/event"
	else
		echo "auditd: not installable here, skipped"
	fi
} | tee -a "$OUT"
if [ "$installed_auditd" = 1 ] && [ "$have_auditd" = 1 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq auditd libauparse0 >/dev/null 2>&1 || true
	rm -rf /var/log/audit
fi
