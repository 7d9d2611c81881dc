#!/bin/sh
# run.sh: builds the libFuzzer targets with clang and runs each for SECONDS (default 60).
# New inputs go to build-fuzz/corpus-<target>/, never into the committed seed corpus.
set -eu
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DPORTICO_FUZZ=ON -DPORTICO_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    short=${name#fuzz_}
    work=build-fuzz/corpus-$short
    mkdir -p "$work"
    echo "== $name for ${SECONDS_EACH}s"
    ./build-fuzz/"$name" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        "$work" "tests/fuzz/corpus/$short" 2>&1 | grep -E "^(stat::|#|==|SUMMARY)" | tail -6
done
