# Makefile: Portico's entry points. `make demo` runs the demo; `make test` runs every test.
# Each target installs the Debian/npm packages it needs when they are missing (scripts/deps.sh).

BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)

.PHONY: all build deps test unit e2e asan demo fuzz soak clean format help bench bench-peers

all: build

help:
	@echo "make          build the portico binary ($(BUILD)/portico)"
	@echo "make test     every test: unit, corpus replay, end-to-end, then the same under ASan+UBSan"
	@echo "make demo     run the gateway with the demo and print the URL to open"
	@echo "make fuzz     run every libFuzzer target for FUZZ_SECONDS (default 60) each;"
	@echo "              FUZZ_JOBS=N runs N at a time at low priority (logs in build-fuzz/logs/)"
	@echo "make soak     SOAK_SECONDS (default 600) of churn; RSS and fds must return to baseline"
	@echo "make format   clang-format every C file"
	@echo "make bench    every benchmark scenario (S1-S5, bench/README.md) and the table"
	@echo "make bench-peers  the scenarios nchan and Pushpin can run, beside Portico, with ratios"

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test:
	@scripts/deps.sh test
	@tests/run.sh

demo:
	@scripts/deps.sh demo
	@scripts/demo.sh

fuzz:
	@scripts/deps.sh fuzz
	@if [ -n "$(FUZZ_JOBS)" ]; then tests/fuzz/run_parallel.sh $(or $(FUZZ_SECONDS),60) $(FUZZ_JOBS); \
	else tests/fuzz/run.sh $(FUZZ_SECONDS); fi

SOAK_SECONDS ?= 600

soak: build
	@scripts/deps.sh test
	@PORTICO_SOAK_SECONDS=$(SOAK_SECONDS) PORTICO_BIN=$(CURDIR)/$(BUILD)/portico \
	    /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/e2e/test_soak.py

# Benchmarks (bench/README.md). BENCH_ARGS passes options to bench/bench.py, e.g.
# BENCH_ARGS="--repeat 3" or "--quick"; rows go to $(BUILD)/bench/results.tsv.
BENCH_ARGS ?=

bench:
	@scripts/deps.sh bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target portico ptload ptecho
	@bench/bench.py --build $(BUILD) $(BENCH_ARGS) all

bench-peers:
	@scripts/deps.sh bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target portico ptload ptecho
	@bench/bench.py --build $(BUILD) --peers $(BENCH_ARGS) s1 s2 s2-20k s2-sat s3

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-*
