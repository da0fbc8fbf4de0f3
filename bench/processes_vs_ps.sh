#!/usr/bin/env bash
# Side by side: gosquery listing processes as JSON versus ps listing the same
# fields, on the same machine in one run. Reports medians (hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
make -s build
nproc=$(ls -d /proc/[0-9]* | wc -l)
echo "processes on this host: $nproc"
hyperfine -N --warmup 5 --runs 100 --export-markdown bench/results/processes_vs_ps.md \
	"bin/osqueryi --json 'select pid, parent, name, cmdline from processes'" \
	"ps -eo pid,ppid,comm,args"
