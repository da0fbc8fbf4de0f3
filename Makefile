# The single entry point for building, testing and benchmarking gosquery.
# CI (.ci/run) runs `make test`, the same command the README gives.

GO      ?= go
BIN     ?= bin
PKGS    := ./...

.PHONY: all build test vet fmt-check bench bench-events bench-paced bench-truth bench-remote clean

all: build

# Static, cgo-free binaries: no dynamic loader at start-up, which is a
# third of osqueryi's cold start.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/osqueryi ./cmd/osqueryd

# test is what CI runs: formatting, vet, then every test with the race
# detector. Tests that need root or a kernel feature the machine lacks
# (audit, the proc connector, 32-bit syscalls, IPv6, a pty, ...) skip and
# say why; internal/testreport prints every skip and a one-line summary at
# the end, so a skip is seen, not silent.
test: fmt-check vet
	$(GO) run ./internal/testreport -- -race -count=1 -timeout 30m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '/gen/')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# bench runs the Go benchmarks and the side-by-side scripts in bench/.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./internal/sqlengine/ ./internal/tables/system/ ./internal/ancestry/ ./internal/schedule/ ./internal/logger/ | tee bench/results/go-bench.txt
	$(GO) test -run '^$$' -bench 'QueryRoundTrip|ExtensionTableRows' -benchmem -count 5 ./e2e/ | tee bench/results/extensions.txt
	./bench/processes_vs_ps.sh
	./bench/cold_start.sh

# bench-events needs root and the kernel's audit to itself: the exec storm
# with gosquery, with nothing and with auditd collecting.
bench-events: build
	flock /run/lock/gosquery-audit.lock ./bench/exec_storm.sh

# bench-paced: CPU per exec of osqueryd and auditd at a steady exec rate
# (root, audit to itself).
bench-paced: build
	flock /run/lock/gosquery-audit.lock ./bench/paced_exec.sh

# bench-remote: the TLS logger against the filesystem logger, a live query
# of 100,000 rows against the engine alone, a 50 MB carve (local HTTPS
# servers made by the benchmarks).
bench-remote:
	$(GO) test -run '^$$' -bench 'TLS' -benchtime 3x -count 3 ./internal/logger/ | tee bench/results/remote.txt
	$(GO) test -run '^$$' -bench 'LiveQuery100k' -benchtime 5x -count 3 ./internal/distributed/ | tee -a bench/results/remote.txt
	$(GO) test -run '^$$' -bench 'Carve50MB' -benchtime 3x ./internal/carver/ | tee -a bench/results/remote.txt

# bench-truth: the share of exactly correct ancestry chains at cache sizes
# 50, 500 and 20,000, on the ground-truth scenarios of e2e/truth_test.go.
bench-truth:
	./bench/ancestry_truth.sh

clean:
	rm -rf $(BIN)
