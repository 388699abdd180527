#!/usr/bin/env bash
# Diagnostic, not a test: boots the e2e VM exactly as run.sh does, but from Debian's reference
# servers (dnsmasq for DHCP+TFTP, nfs-ganesha + rpcbind for NFSv3) instead of rootfarm. When
# run.sh fails and this passes, the fault is rootfarm's; when both fail, it is the harness's.
# Needs: apt-get install dnsmasq-base nfs-ganesha nfs-ganesha-vfs rpcbind.
#
#   reference-check.sh [--variant busybox|debootstrap] [--size MB] [--keep]
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

variant=busybox
size=20
timeout_s=300
while [ $# -gt 0 ]; do
    case "$1" in
        --variant) variant="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --keep) E2E_KEEP=1; shift ;;
        *) echo "reference-check.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
for b in dnsmasq ganesha.nfsd rpcbind; do
    command -v "$b" > /dev/null || { echo "reference-check.sh: $b is not installed" >&2; exit 1; }
done

cache="$(bash "$E2E_HERE/prepare.sh" --variant "$variant" | tail -n1)"
e2e_setup
root="$E2E_WORK/export"
src="$cache/roots/busybox"
[ "$variant" = debootstrap ] && src="$(ls -d "$cache"/roots/debootstrap-* | head -n1)"
mkdir -p "$root"
cp -a --reflink=auto "$src/." "$root/"
e2e_build_package "$root/e2e/pkg"
e2e_write_boot "$E2E_WORK/tftp" "$root" "rootfarm.e2e.size=$size"

cat > "$E2E_WORK/ganesha.conf" <<CONF
NFS_CORE_PARAM { Protocols = 3; NFS_Port = 2049; MNT_Port = 20048; Enable_NLM = false;
                 Enable_RQUOTA = false; }
NFSV4 { Graceless = true; }
EXPORT { Export_Id = 1; Path = $root; Pseudo = $root; Protocols = 3; Transports = TCP;
         Access_Type = RW; Squash = No_Root_Squash; SecType = sys; FSAL { Name = VFS; } }
LOG { Default_Log_Level = WARN; }
CONF
# rpcbind and ganesha get a private /run so they never meet a host rpcbind's socket.
e2e_ns_spawn "$E2E_WORK/nfs.log" unshare -m --propagation private sh -c \
    "mount -t tmpfs tmpfs /run && mkdir -p /run/ganesha && rpcbind -w && sleep 1 &&
     exec ganesha.nfsd -F -f '$E2E_WORK/ganesha.conf' -L '$E2E_WORK/ganesha.log' \
         -p /run/ganesha.pid"
e2e_ns_spawn "$E2E_WORK/dnsmasq.log" dnsmasq --no-daemon --port=0 --interface=br0 \
    --bind-interfaces --dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0 \
    --dhcp-host="$E2E_MAC1,10.77.0.11" --dhcp-boot=boot.ipxe --enable-tftp \
    --tftp-root="$E2E_WORK/tftp" --dhcp-leasefile="$E2E_WORK/leases" --no-resolv --no-hosts \
    --log-dhcp
sleep 3

accel="$(e2e_accel "$cache" "$cache/out/vmlinuz")"
e2e_log "booting $E2E_MAC1 with $accel"
start=$(date +%s)
console="$E2E_WORK/console.log"
e2e_boot_vm "$E2E_MAC1" "$console" "$E2E_WORK/ctl" "$accel"
rc=0
e2e_wait_for "$console" "ROOTFARM-E2E: (RESTART-POINT|FAIL)" "$timeout_s" "$E2E_VM_PID" || rc=1
[ $rc -eq 0 ] && e2e_log "restart point after $(($(date +%s) - start)) s" && \
    e2e_send_ctl "$E2E_WORK/ctl" RESUME
e2e_wait_for "$console" "ROOTFARM-E2E: (PASS|FAIL)" "$timeout_s" "$E2E_VM_PID" || rc=1
e2e_wait_pid "$E2E_VM_PID" 60 || true
if [ $rc -eq 0 ] && grep -aq "ROOTFARM-E2E: PASS" "$console"; then
    e2e_log "PASS with the reference servers in $(($(date +%s) - start)) s"
    exit 0
fi
e2e_diagnose "$console"
exit 1
