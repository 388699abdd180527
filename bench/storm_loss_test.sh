#!/usr/bin/env bash
# ctest `bench_storm_loss` (label bench): a 3-Pi storm against a real `rootfarm serve` on
# 127.0.0.1 in a network namespace of its own, whose loopback drops UDP at random (nftables
# numgen): a third of the Pis' TFTP read requests, and one in 4000 of the other TFTP packets
# either way. Every boot must still complete, having retransmitted on timeout. Needs root, ip and
# nft (Debian nftables); skipped (77) without them. The namespace goes when the test ends.
# Usage: storm_loss_test.sh ROOTFARM_BENCH ROOTFARM TRACE
set -euo pipefail
if [[ ${1:-} != --inside ]]; then
    if [[ $(id -u) != 0 ]] || ! command -v nft >/dev/null || ! command -v ip >/dev/null; then
        echo "SKIP: needs root, ip and nft"
        exit 77
    fi
    ns=rfb-loss-$$
    ip netns add "$ns"
    trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
    status=0
    ip netns exec "$ns" bash "$0" --inside "$@" || status=$?
    exit $status
fi
shift
bench=$1
rootfarm=$2
trace=$3
# shellcheck source=bench/test_server.sh
source "$(dirname "$0")/test_server.sh"
rootfarm_workdir rootfarm-bench-loss
ip link set lo up
mkdir -p "$work/state/images"
"$bench" make-image "$work/state/images/default" >/dev/null
rootfarm_config "$work" 3
tftp=$((base + 2)) dhcp=$((base + 3))
# Dropped on the way in (a drop on the way out fails the sendto with EPERM). The server's
# transfers come from ephemeral ports; DHCP (to and from $dhcp) and NFS (TCP) pass.
nft -f - <<NFT
table inet loss {
    chain in {
        type filter hook input priority 0;
        udp dport $tftp numgen random mod 3 == 0 counter drop
        udp sport != $dhcp udp dport != { $tftp, $dhcp } numgen random mod 4000 == 0 counter drop
    }
}
NFT
rootfarm_start "$rootfarm" "$work"

fail() {
    echo "FAIL: $*"
    nft list ruleset
    echo "--- server log"; tail -20 "$work/serve.log"
    exit 1
}
status=0
# 400 ms: five retransmits outlast the server's own 1 s retransmit of a lost DATA block.
timeout 300 "$bench" storm --clients 3 --trace "$trace" --source 127.1.0.1 \
    --dhcp 127.0.0.1:$dhcp --tftp 127.0.0.1:$tftp --tftp-timeout-ms 400 --nfs 127.0.0.1:$base \
    --mount-port $((base + 1)) --server-pid "$server" --json "$work/out.json" || status=$?
[[ $status == 0 ]] || fail "rootfarm-bench exited $status"
grep -q '"failed_boots": 0' "$work/out.json" || fail "failed boots"
for i in 0 1 2; do
    bytes=$(grep -o "\"index\": $i,.*\"tftp_bytes\": [0-9]*" "$work/out.json" | grep -o '[0-9]*$')
    ((bytes > 8 * 1024 * 1024)) || fail "Pi $i fetched only $bytes bytes over TFTP"
done
dropped=$(nft list ruleset | grep -o 'packets [0-9]*' | awk '{ n += $2 } END { print n + 0 }')
timeouts=$(grep -o '"tftp_timeouts": [0-9]*' "$work/out.json" | awk '{ n += $2 } END { print n + 0 }')
echo "dropped $dropped packets; the Pis timed out and retransmitted $timeouts times"
((dropped > 0)) || fail "nothing was dropped"
((timeouts > 0)) || fail "no retransmit timeout counted"
echo "PASS"
