#!/bin/sh
# bench/policy-load/cpu-per-request.sh - server CPU time per request (user+system, all threads, from
# /proc/PID/stat) for a fixed number of requests from mailmoat-policy-load: a figure that depends little on
# what else runs on the machine, unlike requests/s. Servers: the do-nothing policy server, or mailmoat-grey on
# its embedded SQLite store with "unseen" triplets (delay 1 h: after the first pass every request is an early
# retry) or "known" triplets (delay 1 s, two warm-up passes 1.2 s apart), as in bench/grey/run-bench.
# Usage (as root): bench/policy-load/cpu-per-request.sh BUILD_DIR null|grey-unseen|grey-known CONNECTIONS
#                  REQUESTS_PER_CONNECTION [inet|unix]
# Environment: LOG_LEVEL (default warning; info logs every grey decision), SERVER_ARGS (more server options,
# e.g. SERVER_ARGS="--spin-us 0" for the null server).
set -eu
B="$1"; WHAT="$2"; C="$3"; N="$4"; KIND="${5:-inet}"
T="$(mktemp -d)"
chown mailmoat "$T"
if [ "$KIND" = unix ]; then
    SPEC="unix:$T/s.sock"
else
    PORT="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    SPEC="inet:127.0.0.1:$PORT"
fi
LOAD="$B/bench/policy-load/mailmoat-policy-load"
COMMON="${SERVER_ARGS:-} --foreground --socket $SPEC --user mailmoat --group mailmoat --log-level ${LOG_LEVEL:-warning}"
case "$WHAT" in
null)
    # shellcheck disable=SC2086
    "$B/bench/policy-null/mailmoat-policy-null" --config "" $COMMON 2>"$T/log" & ;;
grey-unseen|grey-known)
    DELAY=3600; [ "$WHAT" = grey-known ] && DELAY=1
    printf 'spf-keying = no\n' >"$T/grey.conf"; chmod 644 "$T/grey.conf"
    # shellcheck disable=SC2086
    "$B/policyd/grey/mailmoat-grey" --config "$T/grey.conf" $COMMON --store "sqlite:$T/grey.db" \
        --delay "${DELAY}s" --auto-whitelist-clients 0 2>"$T/log" & ;;
*) echo "unknown server $WHAT" >&2; exit 64 ;;
esac
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$T"' EXIT INT TERM
i=0
until "$LOAD" --socket "$SPEC" --connections 1 --requests-per-connection 1 >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "server did not start" >&2; cat "$T/log" >&2; exit 1; }
    sleep 0.1
done
# Warm-up, not measured: creates the 256 entries (and, for known triplets, lets them pass).
"$LOAD" --socket "$SPEC" --connections 1 --requests-per-connection 256 >/dev/null
if [ "$WHAT" = grey-known ]; then sleep 1.2; "$LOAD" --socket "$SPEC" --connections 1 --requests-per-connection 256 >/dev/null; fi
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
BEFORE="$(cpu)"
THREADS=1; [ "$C" -gt 1 ] && THREADS=2
"$LOAD" --socket "$SPEC" --connections "$C" --threads "$THREADS" --requests-per-connection "$N"
AFTER="$(cpu)"
awk -v a="$BEFORE" -v b="$AFTER" -v t="$(getconf CLK_TCK)" -v n="$((C * N))" \
    'BEGIN { printf "server_cpu_s=%.2f server_cpu_us_per_request=%.1f\n", (b - a) / t, 1e6 * (b - a) / t / n }'
echo "load_average=$(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$PID"; wait "$PID" || true
# The server's own counters (requests, and how many reads found the next request while still polling).
grep -o "requests=.*spin_hits=[0-9]*" "$T/log" | tail -1 || true
