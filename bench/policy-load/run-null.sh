#!/bin/sh
# bench/policy-load/run-null.sh - mailmoat-policy-load against mailmoat-policy-null (always DUNNO) on a free
# loopback port or a private UNIX socket; prints the generator's report and the server's CPU time.
# Usage: bench/policy-load/run-null.sh [BUILD_DIR] [CONNECTIONS] [SECONDS] [inet|unix]
set -eu
BUILD="${1:-build}"
CONNS="${2:-32}"
SECONDS_="${3:-10}"
KIND="${4:-inet}"
NULL="$BUILD/bench/policy-null/mailmoat-policy-null"
LOAD="$BUILD/bench/policy-load/mailmoat-policy-load"
TMP="$(mktemp -d)"
if [ "$KIND" = unix ]; then
    SPEC="unix:$TMP/null.sock"
else
    PORT="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    SPEC="inet:127.0.0.1:$PORT"
fi
PRIV=""
[ "$(id -u)" = 0 ] && PRIV="--user mailmoat --group mailmoat" && chown mailmoat "$TMP"
# shellcheck disable=SC2086
"$NULL" --config "" --foreground --log-level warning --socket "$SPEC" $PRIV 2>"$TMP/null.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT INT TERM
sleep 0.5  # listening well before this; a missed start shows as a connect error below
TCK="$(getconf CLK_TCK)"
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
BEFORE="$(cpu)"
"$LOAD" --socket "$SPEC" --connections "$CONNS" --duration "$SECONDS_"
AFTER="$(cpu)"
awk -v a="$BEFORE" -v b="$AFTER" -v t="$TCK" -v s="$SECONDS_" \
    'BEGIN { printf "server_cpu_s=%.2f server_cpu_share=%.1f%% of one core\n", (b - a) / t, 100 * (b - a) / t / s }'
echo "load_average=$(cut -d' ' -f1-3 /proc/loadavg)"
