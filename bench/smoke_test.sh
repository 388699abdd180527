#!/usr/bin/env bash
# ctest `bench_smoke` (label bench): a small real storm — 3 simulated Pi 4s, all three phases —
# against a real `rootfarm serve` on 127.0.0.1, checking every boot completes and the report
# counts what was done. Usage: smoke_test.sh ROOTFARM_BENCH ROOTFARM TRACE [ROOT]
# With ROOT (the tree a recorded trace was recorded on, e.g. the e2e harness's cached
# debootstrap root), the image's root/ is a copy of it and the image is imported with
# `rootfarm image import`; the boot files still come from `rootfarm-bench make-image`.
set -euo pipefail
bench=$1
rootfarm=$2
trace=$3
tree=${4:-}
# shellcheck source=bench/test_server.sh
source "$(dirname "$0")/test_server.sh"
rootfarm_workdir rootfarm-bench-smoke

mkdir -p "$work/state/images"
if [[ -z $tree ]]; then
    "$bench" make-image "$work/state/images/default"
else
    "$bench" make-image "$work/image"
    rm -rf "$work/image/root" && mkdir -p "$work/image/root"
    cp -a --reflink=auto "$tree/." "$work/image/root/"
    # As tests/e2e/lib.sh stages it: the store mounts boot/ at /boot/firmware.
    rm -f "$work/image/root/.e2e-ready" "$work/image/root/.debootstrap-done"
    rm -rf "$work/image/root/boot/firmware" && mkdir -p "$work/image/root/boot/firmware"
fi
rootfarm_config "$work" 3
if [[ -n $tree ]]; then
    "$rootfarm" --config "$work/rootfarm.toml" image import "$work/image" default >"$work/import.log" \
        2>&1 || { echo "FAIL: rootfarm image import: $(tail -n1 "$work/import.log")"; exit 1; }
fi
rootfarm_start "$rootfarm" "$work"

fail() {
    echo "FAIL: $*"
    echo "--- server log"; tail -20 "$work/serve.log"
    exit 1
}
calls=$(grep -c '^[A-Z]' "$trace")
# SMOKE_ROUNDS=2 replays the trace twice against the same clients: the second round checks that
# the trace leaves each client's root as it found it (bench/trace_close.h).
for round in $(seq "${SMOKE_ROUNDS:-1}"); do
    status=0
    timeout 300 "$bench" storm --clients 3 --trace "$trace" --source 127.1.0.1 \
        --dhcp 127.0.0.1:$((base + 3)) --tftp 127.0.0.1:$((base + 2)) --nfs 127.0.0.1:$base \
        --mount-port $((base + 1)) --server-pid "$server" --json "$work/out.json" \
        ${SMOKE_PLOT:+--plot "$SMOKE_PLOT"} || status=$?
    [[ -n ${SMOKE_JSON:-} ]] && cp "$work/out.json" "$SMOKE_JSON"
    [[ $status == 0 ]] || fail "round $round: rootfarm-bench exited $status"
    grep -q '"failed_boots": 0' "$work/out.json" || fail "round $round: failed boots"
    # Every Pi replayed the whole trace, and fetched the kernel (8 MiB) among its boot files.
    [[ $(grep -o '"nfs_calls": [0-9]*' "$work/out.json" | grep -c "\"nfs_calls\": $calls\$") == 3 ]] ||
        fail "round $round: not every Pi replayed all $calls calls"
    for i in 0 1 2; do
        bytes=$(grep -o "\"index\": $i,.*\"tftp_bytes\": [0-9]*" "$work/out.json" | grep -o '[0-9]*$')
        ((bytes > 8 * 1024 * 1024)) || fail "round $round: Pi $i fetched only $bytes bytes over TFTP"
    done
    grep -q '"cpu_s": [0-9.]*[1-9]' "$work/out.json" || fail "round $round: no server CPU time"
    grep -q '"bench_cpu_s": [0-9.]*[1-9]' "$work/out.json" || fail "round $round: no bench CPU time"
done

# A boot that goes wrong is reported as failed, and the storm exits 1.
storm() {  # storm JSON ARGS...: a 2-Pi storm against the server; sets $status
    local json=$1
    shift
    status=0
    timeout 120 "$bench" storm --clients 2 --source 127.1.0.1 --dhcp 127.0.0.1:$((base + 3)) \
        --nfs 127.0.0.1:$base --mount-port $((base + 1)) --json "$json" "$@" >"$json.txt" || status=$?
}
# 1. One call of the trace expects a status the server does not answer: every Pi's NFS phase
#    must fail on it, though the rest of the trace replays.
awk '!done && /^GETATTR / { print $0 " =NOENT"; done = 1; next } { print }' "$trace" >"$work/wrong.trace"
storm "$work/wrong.json" --tftp 127.0.0.1:$((base + 2)) --trace "$work/wrong.trace"
[[ $status == 1 ]] || fail "wrong status: rootfarm-bench exited $status, not 1"
grep -q '"failed_boots": 2' "$work/wrong.json" || fail "wrong status: not both boots failed"
[[ $(grep -c '"error": "nfs: 1 calls failed, first: GETATTR [^"]* =NOENT: NFS status 0"' \
    "$work/wrong.json") == 2 ]] || fail "wrong status: the failed call is not reported"
# 2. No TFTP server: every RRQ is retransmitted on timeout until the Pi gives up.
storm "$work/notftp.json" --phases dhcp,tftp --tftp 127.0.0.1:$((base + 5)) --tftp-timeout-ms 50
[[ $status == 1 ]] || fail "no tftp server: rootfarm-bench exited $status, not 1"
grep -q '"failed_boots": 2' "$work/notftp.json" || fail "no tftp server: not both boots failed"
[[ $(grep -c '"tftp_timeouts": 6, .*"error": "tftp [0-9a-f]*/start4.elf: Connection timed out"' \
    "$work/notftp.json") == 2 ]] || fail "no tftp server: not reported as 6 timeouts on the first RRQ"
# 3. A time limit shorter than a boot (the NFS phase alone takes seconds): the Pis still under
#    way fail, and the report is written with what they replayed.
storm "$work/limit.json" --phases nfs --trace "$trace" --time-limit 0.5
[[ $status == 1 ]] || fail "time limit: rootfarm-bench exited $status, not 1"
grep -q '"failed_boots": 2' "$work/limit.json" || fail "time limit: not both boots failed"
[[ $(grep -c '"error": "not booted within --time-limit 0.5' "$work/limit.json") == 2 ]] ||
    fail "time limit: the failure is not reported"
[[ $(grep -c '"nfs_calls": [1-9][0-9]*, "nfs_resolve' "$work/limit.json") == 2 ]] ||
    fail "time limit: the partial replays are not reported"
# 4. The floor: micro-echo against echo-server reports round trips and the server's CPU (bench/
#    compare's floor rows are computed from exactly these two numbers).
"$bench" echo-server --listen 127.0.0.1:$((base + 6)) &
echo_pid=$!
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$((base + 6))) 2>/dev/null && break
    sleep 0.1
done
status=0
timeout 30 "$bench" micro-echo --echo 127.0.0.1:$((base + 6)) --threads 2 --seconds 0.5 \
    --server-pid "$echo_pid" --json "$work/echo.json" >/dev/null || status=$?
kill "$echo_pid"
wait "$echo_pid" 2>/dev/null || true
[[ $status == 0 ]] || fail "micro-echo exited $status"
grep -q '"ops": [1-9][0-9]*, "failed_workers": 0' "$work/echo.json" || fail "micro-echo: no round trips"
grep -q '"server_cpu_s": [0-9.]*[1-9]' "$work/echo.json" || fail "micro-echo: no server CPU time"
echo "PASS"
