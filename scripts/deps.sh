#!/bin/sh
# deps.sh: installs the Debian (and npm) packages a make target needs, only when missing.
# usage: scripts/deps.sh build|test|demo|fuzz|bench
set -eu

profile=${1:-build}
build_pkgs="cmake make gcc clang pkg-config libjansson-dev libcurl4-openssl-dev libsodium-dev
liblmdb-dev libmsgpack-dev libyaml-dev libssl-dev libcmocka-dev libjose-dev"
test_pkgs="$build_pkgs python3 python3-pytest python3-websockets python3-boto3 python3-botocore
python3-prometheus-client
python3-aiohttp python3-jwt python3-cryptography awscli curl lmdb-utils libfuzzer-14-dev libclang-rt-14-dev
cmd:node:nodejs cmd:npm:npm chromium"
demo_pkgs="$build_pkgs curl"
fuzz_pkgs="$build_pkgs libfuzzer-14-dev libclang-rt-14-dev"
# bench: callgrind and strace for the profiles; nginx + nchan and Pushpin for the peers.
bench_pkgs="$build_pkgs python3 valgrind strace nginx libnginx-mod-nchan pushpin wrk"

case "$profile" in
build) pkgs=$build_pkgs ;;
test) pkgs=$test_pkgs ;;
demo) pkgs=$demo_pkgs ;;
fuzz) pkgs=$fuzz_pkgs ;;
bench) pkgs=$bench_pkgs ;;
*) echo "deps.sh: unknown profile '$profile'" >&2; exit 2 ;;
esac

# "cmd:NAME:PKG" entries are satisfied by any NAME on PATH: a machine with NodeSource's nodejs
# already has npm, and Debian's npm package conflicts with it ("held broken packages").
missing=""
for p in $pkgs; do
    case "$p" in
    cmd:*)
        name=${p#cmd:}
        pkg=${name#*:}
        name=${name%%:*}
        command -v "$name" >/dev/null 2>&1 || missing="$missing $pkg"
        continue
        ;;
    esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "deps.sh: installing:$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: need root to install packages (run as root or install them yourself)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi

# npm packages for the end-to-end tests (Node AWS SDK v3, headless browser driver, ws).
if [ "$profile" = test ] && [ -f tests/package.json ]; then
    if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules ]; then
        echo "deps.sh: installing npm packages for tests"
        # npm ships its own CA list; point it at the system bundle so a site CA installed with
        # update-ca-certificates (e.g. for a TLS-inspecting proxy) is trusted too.
        cafile=""
        [ -f /etc/ssl/certs/ca-certificates.crt ] && cafile="--cafile=/etc/ssl/certs/ca-certificates.crt"
        # shellcheck disable=SC2086
        if ! (cd tests && npm ci --no-audit --no-fund --loglevel=error $cafile); then
            echo "deps.sh: npm ci failed in tests/. If the error is about a certificate, install" >&2
            echo "deps.sh: your network's CA in /usr/local/share/ca-certificates and run" >&2
            echo "deps.sh: update-ca-certificates, then make test again." >&2
            exit 1
        fi
        touch tests/node_modules
    fi
fi
