#!/usr/bin/env bash
# ctest `bench_soak_smoke` (label bench): `rootfarm-bench soak` (4 Pis, 20 s) and `flood` (all
# flooders, then no-read) against a real `rootfarm serve` on 127.0.0.1, checking that their JSON
# parses, no Pi saw an error and every part of the workload ran.
# Usage: soak_test.sh ROOTFARM_BENCH ROOTFARM TRACE [PIS SECONDS [OUT_DIR]]
# The full soak is the same script by hand: `soak_test.sh BENCH ROOTFARM TRACE 64 600 /tmp/soak`
# (it then also checks the soak's verdict, and keeps the JSON, table and plot in OUT_DIR).
set -euo pipefail
bench=$1
rootfarm=$2
trace=$3
pis=${4:-4}
seconds=${5:-20}
out=${6:-}
quiet=2
# shellcheck source=bench/test_server.sh
source "$(dirname "$0")/test_server.sh"
rootfarm_workdir rootfarm-bench-soak
command -v python3 >/dev/null || { echo "FAIL: python3 is needed to read the JSON"; exit 1; }

mkdir -p "$work/state/images"
"$bench" make-image "$work/state/images/default" >/dev/null
# Every soak Pi and every flood client (the quiet Pis and the flooder after them) is a client.
nclients=$((pis > quiet + 1 ? pis : quiet + 1))
rootfarm_config "$work" "$nclients"
rootfarm_start "$rootfarm" "$work"

fail() {
    echo "FAIL: $*"
    echo "--- server log"; tail -20 "$work/serve.log"
    exit 1
}
targets=(--source 127.1.0.1 --dhcp 127.0.0.1:$((base + 3)) --tftp 127.0.0.1:$((base + 2))
         --nfs 127.0.0.1:$base --mount-port $((base + 1)) --server-pid "$server")
# json FILE EXPR: a Python expression over the parsed JSON `j`, printed.
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# --- soak -----------------------------------------------------------------------------------
every=$((seconds >= 100 ? 10 : 2))
periodic=$((seconds >= 100 ? 60 : 5))
[[ -n $out ]] && mkdir -p "$out"
status=0
timeout $((seconds * 3 + 120)) "$bench" soak --pis "$pis" --seconds "$seconds" \
    --sample-every "$every" --tftp-every "$periodic" --dhcp-every "$periodic" --trace "$trace" \
    --state "$work/state" --json "$work/soak.json" ${out:+--plot "$out/soak.png"} \
    "${targets[@]}" | tee "$work/soak.txt" || status=$?
# 0: flat; 1: the verdict failed (a short run may not settle); anything else: the tool broke.
[[ $status == 0 || $status == 1 ]] || fail "soak exited $status"
[[ -n $out ]] && cp "$work/soak.json" "$work/soak.txt" "$out/"
[[ $(json "$work/soak.json" "j['errors']") == 0 ]] || fail "soak: errors"
[[ $(json "$work/soak.json" "j['rounds'] >= $pis and j['tftp_fetches'] > 0 and \
      j['dhcp_exchanges'] > $pis") == True ]] || fail "soak: not every part of the workload ran"
[[ $(json "$work/soak.json" "len(j['samples']) >= 3 and all(s['ok'] and s['rss_kib'] > 0 and \
      s['fds'] > 0 and s['threads'] > 0 for s in j['samples']) and \
      j['samples'][-1]['journals'] >= $pis") == True ]] || fail "soak: samples incomplete"
# The long run by hand must hold the verdict; the 20 s smoke only reports it.
((seconds < 100)) || [[ $status == 0 ]] || fail "soak verdict"

# --- flood ----------------------------------------------------------------------------------
for mode in all no-read; do
    sleep 3  # the transfers the last run left behind time out
    status=0
    timeout 120 "$bench" flood --mode $mode --quiet $quiet --seconds 3 \
        --json "$work/flood-$mode.json" "${targets[@]}" | tee "$work/flood-$mode.txt" || status=$?
    [[ $status == 0 ]] || fail "flood --mode $mode exited $status"
    [[ -n $out ]] && cp "$work/flood-$mode.json" "$work/flood-$mode.txt" "$out/"
    [[ $(json "$work/flood-$mode.json" "j['errors'] == 0 and j['quiet']['count'] > 0 and \
          j['flooded']['count'] > 0 and j['server']['rss_before_kib'] > 0") == True ]] ||
        fail "flood $mode: quiet Pis failed or measured nothing"
done
[[ $(json "$work/flood-all.json" "sorted(f['kind'] for f in j['flooders'] if f['sent'] > 0)") == \
   "['dhcp-discover-fixed', 'oversized-record-2g', 'oversized-record-fragments', 'rpc-garbage-tcp', \
'rpc-garbage-udp', 'tftp-rrq-existing', 'tftp-rrq-missing']" ]] ||
    fail "flood all: a flooder sent nothing"
[[ $(json "$work/flood-no-read.json" "j['no_read']['calls_sent'] > 0") == True ]] ||
    fail "flood no-read: no READ call went out"
echo "PASS"
