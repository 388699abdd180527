#!/usr/bin/env bash
# Runs `rootfarm-bench flood` once per mode, each against a fresh `rootfarm serve` on 127.0.0.1
# (bench/test_server.sh), and prints one line per mode. Arguments after the modes go to the bench.
#
#   bench/flood_table.sh [--isolate] BENCH ROOTFARM OUT_DIR [MODE...] [-- BENCH_ARGS...]
#
# MODE defaults to every mode. Each mode's JSON report is OUT_DIR/MODE.json, the server's log
# OUT_DIR/MODE.serve.log.
#
# --isolate (root, 2 CPUs or more) gives the flooder a CPU of its own, as a flooding Pi has:
# the server and the quiet Pis run on CPU 0, the flooder's thread on CPU 1, all inside a new
# network namespace whose loopback hands every received packet to CPU 0 (RPS), so the kernel's
# receive work for the flood is charged to the server's CPU as a NIC's interrupt would be.
set -euo pipefail
isolate=0
if [ "${1:-}" = --isolate ]; then isolate=1; shift; fi
bench=$(realpath "$1") rootfarm=$(realpath "$2") out=$3
shift 3
if [ $isolate = 1 ] && [ -z "${FLOOD_TABLE_NETNS:-}" ]; then
    ns=flood-table-$$
    ip netns add "$ns"
    trap 'ip netns del "$ns"' EXIT
    ip netns exec "$ns" ip link set lo up
    [ "${FLOOD_TABLE_RPS:-1}" = 0 ] || ip netns exec "$ns" sh -c "echo 1 >/sys/class/net/lo/queues/rx-0/rps_cpus"
    # FLOOD_TABLE_NS_SETUP: a command run in the namespace first (experiments: nft rules).
    [ -z "${FLOOD_TABLE_NS_SETUP:-}" ] || ip netns exec "$ns" sh -c "$FLOOD_TABLE_NS_SETUP"
    FLOOD_TABLE_NETNS=$ns ip netns exec "$ns" "$0" --isolate "$bench" "$rootfarm" "$out" "$@"
    exit
fi
pin=()
if [ $isolate = 1 ]; then
    pin=(--quiet-cpu 0 --flooder-cpu 1)
    wrapper=$(mktemp /tmp/flood-table-rootfarm.XXXXXX)
    printf '#!/bin/sh\nexec taskset -c 0 %q "$@"\n' "$rootfarm" >"$wrapper"
    chmod +x "$wrapper"
    rootfarm=$wrapper
fi
modes=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do modes+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#modes[@]} -gt 0 ] || modes=(cpu rpc-garbage oversized-record dhcp-discover tftp-rrq all no-read)
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/test_server.sh"
quiet=8
for mode in "${modes[@]}"; do
    rootfarm_workdir flood
    mkdir -p "$work/state/images"
    "$bench" make-image "$work/state/images/default" >/dev/null
    rootfarm_config "$work" $((quiet + 1))
    rootfarm_start "$rootfarm" "$work"
    "$bench" flood --mode "$mode" --quiet $quiet --server-pid "$server" \
        --nfs 127.0.0.1:$base --mount-port $((base + 1)) --tftp 127.0.0.1:$((base + 2)) \
        --dhcp 127.0.0.1:$((base + 3)) --json "$out/$mode.json" "${pin[@]}" "$@" >"$out/$mode.txt" 2>&1 ||
        echo "flood_table: $mode: bench exited $?" >&2
    cp "$work/serve.log" "$out/$mode.serve.log"
    kill "$server"; wait "$server" 2>/dev/null || true
    server=
    rm -rf "$work"
    grep -E '^(quiet|flooded|p99 flooded)' "$out/$mode.txt" | sed "s/^/$mode: /"
done
[ $isolate = 0 ] || rm -f "$wrapper"
