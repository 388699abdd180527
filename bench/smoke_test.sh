#!/usr/bin/env bash
# ctest `bench_smoke` (label bench): a small real storm — 3 simulated Pi 4s, all three phases —
# against a real `rootfarm serve` on 127.0.0.1, checking every boot completes and the report
# counts what was done. Usage: smoke_test.sh ROOTFARM_BENCH ROOTFARM TRACE
set -euo pipefail
bench=$1
rootfarm=$2
trace=$3
work=$(mktemp -d /tmp/rootfarm-bench-smoke.XXXXXX)
server=
cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Ports in 20000-59999 from our pid; a clash fails the start below, never another test.
base=$((20000 + ($$ % 8000) * 5))
mkdir -p "$work/state/images"
"$bench" make-image "$work/state/images/default"
{
    cat <<CFG
state_dir = "$work/state"
server_ip = "127.0.0.1"
[log]
level = "warn"
[nfs]
listen = "127.0.0.1"
port = $base
mount_port = $((base + 1))
portmap = "off"
[tftp]
listen = "127.0.0.1"
port = $((base + 2))
[dhcp]
enabled = true
listen = "127.0.0.1"
port = $((base + 3))
client_port = $((base + 4))
range_start = "127.1.0.100"
range_end = "127.1.0.200"
netmask = "255.0.0.0"
CFG
    for i in 0 1 2; do
        printf '[[client]]\nmac = "dc:a6:32:b0:00:%02x"\nip = "127.1.0.%d"\nserial = "%08x"\n' \
            $i $((i + 1)) $((0x5b000000 | i))
    done
} >"$work/rootfarm.toml"
"$rootfarm" --config "$work/rootfarm.toml" serve 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$base) 2>/dev/null && break
    sleep 0.1
done

status=0
timeout 300 "$bench" storm --clients 3 --trace "$trace" --source 127.1.0.1 \
    --dhcp 127.0.0.1:$((base + 3)) --tftp 127.0.0.1:$((base + 2)) --nfs 127.0.0.1:$base \
    --mount-port $((base + 1)) --server-pid "$server" --json "$work/out.json" || status=$?

fail() {
    echo "FAIL: $*"
    echo "--- server log"; tail -20 "$work/serve.log"
    exit 1
}
[[ $status == 0 ]] || fail "rootfarm-bench exited $status"
grep -q '"failed_boots": 0' "$work/out.json" || fail "failed boots"
calls=$(grep -c '^[A-Z]' "$trace")
# Every Pi replayed the whole trace, and fetched the kernel (8 MiB) among its boot files.
[[ $(grep -o '"nfs_calls": [0-9]*' "$work/out.json" | grep -c "\"nfs_calls\": $calls\$") == 3 ]] ||
    fail "not every Pi replayed all $calls calls"
for i in 0 1 2; do
    bytes=$(grep -o "\"index\": $i,.*\"tftp_bytes\": [0-9]*" "$work/out.json" | grep -o '[0-9]*$')
    ((bytes > 8 * 1024 * 1024)) || fail "Pi $i fetched only $bytes bytes over TFTP"
done
grep -q '"cpu_s": [0-9.]*[1-9]' "$work/out.json" || fail "no server CPU time measured"
echo "PASS"
