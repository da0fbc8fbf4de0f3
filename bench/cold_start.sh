#!/usr/bin/env bash
# Cold start of the shell on a trivial query, start to exit, next to
# /bin/true as the floor of process creation on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
make -s build
hyperfine -N --warmup 5 --runs 200 --export-markdown bench/results/cold_start.md \
	"bin/osqueryi 'select 1'" \
	"/bin/true"
