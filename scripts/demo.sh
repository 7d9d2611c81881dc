#!/bin/sh
# demo.sh: builds Portico and demo-chat, runs both on loopback, prints the URL to open.
#
# PORT (8080), CHAT_PORT (8081) and ADMIN_PORT (9080) choose the ports; 0 picks free ones.
# CONFIG (demo-chat/portico.json) is the API to run: a copy with routes of your own works.
# DEMO_DIR (.demo) holds the run's state: the generated config, port files, logs, and both
# data directories (Portico's registry, the chat's history). BUILD (build) is the build
# directory; DEMO_NO_BUILD=1 skips the build. Ctrl-C (SIGINT) or SIGTERM stops both.
set -eu
cd "$(dirname "$0")/.."
PORT=${PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9080}
CHAT_PORT=${CHAT_PORT:-8081}
BUILD=${BUILD:-build}
DEMO_DIR=${DEMO_DIR:-.demo}
CONFIG=${CONFIG:-demo-chat/portico.json}

if [ "${DEMO_NO_BUILD:-0}" != 1 ]; then
    echo "demo: building portico and chat-backend in $BUILD/"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" --target portico chat-backend >/dev/null
fi

if [ ! -r "$CONFIG" ]; then
    echo "demo: cannot read $CONFIG" >&2
    exit 2
fi

# The backend signs its @connections calls with the key the config lists, in its region.
config_value() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$CONFIG" | head -n 1; }
akid=$(config_value accessKeyId)
secret=$(config_value secretAccessKey)
region=$(config_value region)

mkdir -p "$DEMO_DIR"
rm -f "$DEMO_DIR/chat.port" "$DEMO_DIR/portico.port"
backend_pid=""
portico_pid=""
sleep_pid=""

# Portico first: its shutdown sends $disconnect for every client to the backend.
# (set -e is on: every command here that may fail is guarded.)
# shellcheck disable=SC2317 # called from the traps
stop() {
    if [ -n "$sleep_pid" ]; then
        kill "$sleep_pid" 2>/dev/null || true
        sleep_pid=""
    fi
    if [ -n "$portico_pid" ]; then
        kill -TERM "$portico_pid" 2>/dev/null || true
        wait "$portico_pid" 2>/dev/null || true
        portico_pid=""
    fi
    if [ -n "$backend_pid" ]; then
        kill -TERM "$backend_pid" 2>/dev/null || true
        wait "$backend_pid" 2>/dev/null || true
        backend_pid=""
    fi
}
trap 'stop' EXIT
trap 'echo; echo "demo: stopping"; stop; exit 0' INT TERM

# wait_port FILE PID NAME LOG: waits until the process wrote its port file; prints the port.
wait_port() {
    i=0
    while [ ! -s "$1" ]; do
        if ! kill -0 "$2" 2>/dev/null; then
            echo "demo: $3 did not start; the end of $4:" >&2
            tail -n 20 "$4" >&2
            exit 1
        fi
        i=$((i + 1))
        if [ $i -gt 300 ]; then
            echo "demo: $3 did not write $1 within 30 s" >&2
            exit 1
        fi
        sleep 0.1
    done
    sed -n 's/.*"listen": *\([0-9]*\).*/\1/p' "$1"
}

AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=$region \
    "$BUILD/chat-backend" --listen "127.0.0.1:$CHAT_PORT" --port-file "$DEMO_DIR/chat.port" \
    --data-dir "$DEMO_DIR/chat-data" --endpoint-port-file "$DEMO_DIR/portico.port" \
    --stage dev 2>>"$DEMO_DIR/chat-backend.log" &
backend_pid=$!
chat_port=$(wait_port "$DEMO_DIR/chat.port" "$backend_pid" chat-backend \
    "$DEMO_DIR/chat-backend.log")

# The config names the backend by a stage variable; point it at the port the backend got.
sed "s/\"chatBackend\": *\"[^\"]*\"/\"chatBackend\": \"127.0.0.1:$chat_port\"/" "$CONFIG" \
    >"$DEMO_DIR/portico.json"
if ! "$BUILD/portico" --config "$DEMO_DIR/portico.json" --test-config >/dev/null; then
    echo "demo: $CONFIG has errors (the line numbers above are its own)" >&2
    exit 2
fi
"$BUILD/portico" --config "$DEMO_DIR/portico.json" --listen "127.0.0.1:$PORT" \
    --admin-listen "127.0.0.1:$ADMIN_PORT" --data-dir "$DEMO_DIR/portico-data" \
    --port-file "$DEMO_DIR/portico.port" 2>>"$DEMO_DIR/portico.log" &
portico_pid=$!
port=$(wait_port "$DEMO_DIR/portico.port" "$portico_pid" portico "$DEMO_DIR/portico.log")
admin=$(sed -n 's/.*"admin": *\([0-9]*\).*/\1/p' "$DEMO_DIR/portico.port")

cat <<MSG

  demo-chat is running. Open this in two browser windows and chat:

    http://127.0.0.1:$chat_port/?room=lobby

  Portico, the WebSocket API     ws://127.0.0.1:$port/dev
  @connections (SigV4)           http://127.0.0.1:$port/dev/@connections/{connectionId}
  chat-backend (events, page)    http://127.0.0.1:$chat_port   (AWS_PROXY target of every route)
  Portico admin                  http://127.0.0.1:$admin/health
  config                         $CONFIG (explained route by route in demo-chat/README.md)
  logs                           $DEMO_DIR/portico.log  $DEMO_DIR/chat-backend.log

  Ctrl-C stops both.

MSG

# Wake up every second to notice a process that died; a signal ends the wait at once.
while kill -0 "$portico_pid" 2>/dev/null && kill -0 "$backend_pid" 2>/dev/null; do
    sleep 1 &
    sleep_pid=$!
    wait "$sleep_pid" || true
    sleep_pid=""
done
echo "demo: a process exited; see $DEMO_DIR/portico.log and $DEMO_DIR/chat-backend.log" >&2
exit 1
