#!/bin/sh
# run.sh: every test, in order: build, unit + corpus replay, end-to-end; then all of it again
# against an ASan+UBSan build (leak detection on); then a clang -Werror build of everything.
# Any failure, any sanitizer report, or a step that runs no test fails the run.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc)
PY=/usr/bin/python3
start=$(date +%s)

step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

build() { # dir, extra cmake args...
    dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS" >/dev/null
}

unit() { # dir
    ctest --test-dir "$1" --output-on-failure --no-tests=error -j "$JOBS"
}

e2e() { # binary
    bin=$1; shift
    # pytest exits 5 when it collected no test: that is a failure here, as any other.
    PORTICO_BIN="$bin" $PY -m pytest -q -rxX -p no:cacheprovider tests/e2e "$@" || {
        rc=$?
        [ $rc -eq 5 ] && echo "run.sh: pytest collected no tests" >&2
        exit $rc
    }
}

step "build (gcc, RelWithDebInfo)"
build build
step "unit tests and fuzz corpus replay"
unit build
step "end-to-end tests"
e2e "$PWD/build/portico"

step "build (gcc, ASan+UBSan)"
build build-asan -DPORTICO_SANITIZE=ON
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
step "unit tests and fuzz corpus replay (ASan+UBSan)"
unit build-asan
step "end-to-end tests (ASan+UBSan)"
PORTICO_SANITIZED=1 e2e "$PWD/build-asan/portico"
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

step "build (clang, -Werror)"
CC=clang build build-clang -DCMAKE_C_COMPILER=clang

step "done"
