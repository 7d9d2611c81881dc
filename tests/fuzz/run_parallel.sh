#!/bin/bash
# run_parallel.sh: builds the libFuzzer targets, runs them JOBS at a time, SECONDS each, niced.
# Usage: tests/fuzz/run_parallel.sh SECONDS JOBS [target...]   (default: every build-fuzz/fuzz_*)
# Logs go to build-fuzz/logs/<target>.log; new inputs to build-fuzz/corpus-<short>/, crash
# reproducers to build-fuzz/crashes/<short>/. The committed seed corpus is only read.
set -eu
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-1800}
JOBS=${2:-4}
shift 2 2>/dev/null || shift $#
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DPORTICO_FUZZ=ON -DPORTICO_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice -n 10 cmake --build build-fuzz -j "$JOBS" >/dev/null
targets=${*:-$(cd build-fuzz && ls fuzz_* | grep -v '\.')}
mkdir -p build-fuzz/logs
run_one() {
    name=$1
    short=${name#fuzz_}
    mkdir -p "build-fuzz/corpus-$short" "build-fuzz/crashes/$short"
    # -fork=0 and a single process: the shared machine gets one core per running target at most.
    nice -n 19 "./build-fuzz/$name" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -rss_limit_mb=1024 -artifact_prefix="build-fuzz/crashes/$short/" \
        "build-fuzz/corpus-$short" "tests/fuzz/corpus/$short" >"build-fuzz/logs/$name.log" 2>&1 || true
    echo "$(date -u +%H:%M:%S) done $name" >>build-fuzz/logs/progress.log
}
running=0
for t in $targets; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n 2>/dev/null || wait
        running=$((running - 1))
    fi
    echo "$(date -u +%H:%M:%S) start $t" >>build-fuzz/logs/progress.log
    run_one "$t" &
    running=$((running + 1))
done
wait
