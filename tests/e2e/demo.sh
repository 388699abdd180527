#!/usr/bin/env bash
# The demo: a VM network-boots from rootfarm and reaches a shell, typed into from here.
#
# In a private network namespace it starts `rootfarm serve` (DHCP, TFTP, NFSv3, portmap), boots
# QEMU from the network (iPXE -> TFTP -> Debian's kernel -> root over NFS from rootfarm) into a
# busybox root, types a few commands into the VM's shell on its serial console (shown live),
# lets the VM power off, prints what that client changed (`rootfarm client diff`), and stops
# everything it started. Needs root and network access the first time (Debian packages, cached).
#
#   demo.sh [--rootfarm BIN] [--keep]
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

E2E_ROOTFARM="${ROOTFARM_BIN:-$E2E_HERE/../../build/cli/rootfarm}"
while [ $# -gt 0 ]; do
    case "$1" in
        --rootfarm) E2E_ROOTFARM="$2"; shift 2 ;;
        --keep) E2E_KEEP=1; shift ;;
        *) echo "demo.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$E2E_ROOTFARM" ] || { echo "demo.sh: no rootfarm binary at $E2E_ROOTFARM" >&2; exit 1; }
E2E_ROOTFARM="$(realpath "$E2E_ROOTFARM")"
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (network namespace, tap device)" >&2; exit 1; }

t0=$(date +%s)
cache="$(bash "$E2E_HERE/prepare.sh" --variant busybox | tail -n1)"
e2e_setup
e2e_write_config info
e2e_stage_image "$cache" busybox rootfarm.e2e=demo
e2e_start_server
accel="$(e2e_accel "$cache" "$cache/out/vmlinuz")"
e2e_log "rootfarm serves in namespace $E2E_NS; booting $E2E_MAC1 from the network ($accel);" \
    "the VM's serial console follows"
console="$E2E_WORK/console.log"
e2e_boot_vm "$E2E_MAC1" "$console" "$E2E_WORK/ctl" "$accel" interactive
vm=$E2E_VM_PID

rc=0
e2e_wait_for "$console" "rootfarm demo: this shell" 300 "$vm" || rc=$?
if [ $rc -ne 0 ]; then
    e2e_log "the VM did not reach its shell"
    e2e_diagnose "$console"
    tail -n 20 "$E2E_SERVE_LOG" >&2
    exit 1
fi
sleep 2
# Typed one line at a time, as at a keyboard.
for line in 'uname -sr' 'hostname' 'mount | grep " / "' 'echo "written over NFS" > /root/hello.txt' \
    'ls -l /root' 'exit'; do
    timeout 10 sh -c "printf '%s\n' '$line' > '$console.in'"
    sleep 1
done
e2e_wait_pid "$vm" 120 || { e2e_log "the VM did not power off"; exit 1; }
e2e_stop_server
echo
e2e_log "the VM powered off; what it changed (rootfarm client diff $E2E_MAC1):"
"$E2E_ROOTFARM" --config "$E2E_CONFIG" client diff "$E2E_MAC1" | head -n 20
e2e_log "demo done in $(($(date +%s) - t0)) s; stopping everything it started"
