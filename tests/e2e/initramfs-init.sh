#!/bin/sh
# /init of the e2e initramfs. Debian's kernel has the NIC and NFS as modules, so this loads them
# (in the dependency order prepare.sh computed), configures the NIC with udhcpc and mounts the
# root over NFSv3 exactly as a netbooted Pi's kernel would: `vers=3,tcp,nolock`, the kernel
# asking portmap on 111 for the MOUNT and NFS ports. Kernel parameters read here:
#   rootfarm.root=SERVER:/PATH   the NFS export (default: the DHCP server's address, "/")
#   rootfarm.nfsopts=OPTS        extra mount options
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "ROOTFARM-E2E: $*" > /dev/console; }
die() {
    say "FAIL initramfs: $*"
    sleep 1
    poweroff -f
}

nfsroot=""
nfsopts=""
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        rootfarm.root=*) nfsroot="${arg#rootfarm.root=}" ;;
        rootfarm.nfsopts=*) nfsopts=",${arg#rootfarm.nfsopts=}" ;;
    esac
done

while read -r m; do
    insmod "/lib/modules/$m" 2>/dev/null
done < /modules.order

# The NIC appears asynchronously once virtio_net has probed.
iface=""
for i in $(seq 1 50); do
    for d in /sys/class/net/*; do
        n="${d##*/}"
        [ "$n" = lo ] && continue
        iface="$n"
        break
    done
    [ -n "$iface" ] && break
    sleep 0.2
done
[ -n "$iface" ] || die "no network interface"
ip link set lo up
ip link set "$iface" up
# -t 5 -T 2: up to ~10 s of DISCOVER retransmits, then give up (bounded).
udhcpc -i "$iface" -n -q -t 5 -T 2 -s /usr/share/udhcpc/default.script \
    || die "udhcpc got no lease on $iface"
[ -n "$nfsroot" ] || nfsroot="$(cat /tmp/dhcp-server):/"
say "NET-UP $iface $(cat /tmp/dhcp-ip) root $nfsroot"

mount -t nfs -o "vers=3,tcp,nolock${nfsopts}" "$nfsroot" /newroot \
    || die "mount -t nfs $nfsroot failed"
[ -x /newroot/sbin/init ] || [ -L /newroot/sbin/init ] || die "no /sbin/init in the NFS root"
say "ROOT-MOUNTED $(grep ' /newroot ' /proc/mounts)"

umount /sys /proc
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /sbin/init "$@"
