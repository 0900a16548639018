#!/bin/sh
# bench/milter-load/run.sh - the milter benchmark of docs/bench/milter.md: mailmoat-milter-load against
# the plain-libmilter baseline and mailmoat-example-milter, over a UNIX socket and over TCP.
# Usage: bench/milter-load/run.sh [BUILD_DIR]   (default build/)
set -eu
B="${1:-build}"
LOAD="$B/bench/milter-load/mailmoat-milter-load"
NULL="$B/bench/null-milter/mailmoat-null-milter"
EXAMPLE="$B/examples/milter/mailmoat-example-milter"
D="$(mktemp -d)"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$D"
}
trap cleanup EXIT INT TERM
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
P1=$(port); P2=$(port); P3=$(port)

"$NULL" "unix:$D/null.sock" & PIDS="$PIDS $!"
"$NULL" "inet:$P1@127.0.0.1" add-header & PIDS="$PIDS $!"
"$EXAMPLE" --foreground --config "" --log-level warning --socket "unix:$D/example.sock" & PIDS="$PIDS $!"
"$EXAMPLE" --foreground --config "" --log-level warning --socket "inet:127.0.0.1:$P2" & PIDS="$PIDS $!"
echo "tcp-nodelay = no" > "$D/nodelay-off.conf"  # a boolean is switched off in the config file
"$EXAMPLE" --foreground --config "$D/nodelay-off.conf" --log-level warning --socket "inet:127.0.0.1:$P3" & PIDS="$PIDS $!"
sleep 1

echo "# 1. baseline: do-nothing libmilter milter, UNIX socket, 16 connections, 4 KiB"
"$LOAD" --socket "unix:$D/null.sock" --connections 16 --messages 500 --size 4096
echo "# 2. mailmoat-example-milter (adds a header), UNIX socket, 16 connections, 4 KiB"
"$LOAD" --socket "unix:$D/example.sock" --connections 16 --messages 500 --size 4096
echo "# 3. plain libmilter milter adding a header, TCP, 1 connection"
"$LOAD" --socket "inet:127.0.0.1:$P1" --connections 1 --messages 50 --size 4096
echo "# 4. mailmoat-example-milter (adds a header), TCP, 1 connection"
"$LOAD" --socket "inet:127.0.0.1:$P2" --connections 1 --messages 500 --size 4096
echo "# 4b. mailmoat-example-milter with tcp-nodelay = no, TCP, 1 connection"
"$LOAD" --socket "inet:127.0.0.1:$P3" --connections 1 --messages 50 --size 4096
echo "# 5. plain libmilter milter adding a header, TCP, 16 connections"
"$LOAD" --socket "inet:127.0.0.1:$P1" --connections 16 --messages 50 --size 4096
echo "# 6. mailmoat-example-milter (adds a header), TCP, 16 connections"
"$LOAD" --socket "inet:127.0.0.1:$P2" --connections 16 --messages 500 --size 4096
