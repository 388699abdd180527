#!/usr/bin/env bash
# Prepares everything the end-to-end VM boot needs, cached outside the repo so a second run costs
# seconds: Debian packages on the host (QEMU, the iPXE ROMs, kmod, cpio, debootstrap), Debian's
# stock kernel extracted with `dpkg -x` (never installed), a small initramfs that loads the NIC and
# NFS modules and mounts the root over NFSv3, and the root trees rootfarm serves.
#
#   prepare.sh [--variant busybox|debootstrap] [--print-cache]
#
# Idempotent. Exits non-zero with a one-line reason when something cannot be obtained (no network,
# no mirror): the e2e tests then fail, they never skip silently.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ROOTFARM_E2E_CACHE:-/var/cache/rootfarm-e2e}"
variant=busybox
suite="${ROOTFARM_E2E_SUITE:-bookworm}"
mirror="${ROOTFARM_E2E_MIRROR:-http://deb.debian.org/debian}"

while [ $# -gt 0 ]; do
    case "$1" in
        --variant) variant="$2"; shift 2 ;;
        --print-cache) echo "$cache"; exit 0 ;;
        *) echo "prepare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$variant" in
    busybox | debootstrap) ;;
    *) echo "prepare.sh: bad variant $variant" >&2; exit 2 ;;
esac

fail() { echo "prepare.sh: FAILED: $*" >&2; exit 1; }
log() { echo "prepare.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces, tap devices, real file owners)"

# --- host packages --------------------------------------------------------------------------
# busybox-static is not installed on the host (it conflicts with the busybox package the other
# tests use): its binary is taken from the downloaded .deb like the kernel.
host_packages=(qemu-system-x86 ipxe-qemu kmod cpio iproute2 gcc libc6-dev)
[ "$variant" = debootstrap ] && host_packages+=(debootstrap)
missing=()
for p in "${host_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq || fail "apt-get update failed (no network?)"
    timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || fail "apt-get install ${missing[*]} failed (no network?)"
fi

mkdir -p "$cache/debs" "$cache/out"
# One prepare at a time: concurrent runs (ctest -j) would rebuild the same trees.
exec 9> "$cache/.lock"
flock -w 1800 9 || fail "another prepare.sh holds $cache/.lock for over 30 minutes"

# Downloads package $1 into $cache/debs unless a .deb of it is already there; prints its path.
# The file is matched by the package's own name so a newer kernel ABI is picked up only when the
# cache is cleared.
download() {
    local pkg="$1" f
    f="$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null | head -n1 || true)"
    if [ -z "$f" ]; then
        # Stale package lists name versions the mirror no longer has: update once and retry.
        (cd "$cache/debs" && timeout 600 apt-get download -q "$pkg" >/dev/null 2>&1) ||
            { timeout 600 apt-get update -qq >/dev/null 2>&1 &&
                (cd "$cache/debs" && timeout 600 apt-get download -q "$pkg" >/dev/null 2>&1); } ||
            fail "apt-get download $pkg failed (no network or not in the apt sources?)"
        f="$(ls "$cache/debs/${pkg}_"*.deb | head -n1)"
    fi
    echo "$f"
}

# --- kernel ---------------------------------------------------------------------------------
meta_deb="$(download linux-image-amd64)"
kpkg="$(dpkg-deb -f "$meta_deb" Depends | tr ',' '\n' | grep -o 'linux-image-[0-9][^ ]*' |
    head -n1)"
[ -n "$kpkg" ] || fail "cannot find the versioned kernel package in $meta_deb"
kernel_deb="$(download "$kpkg")"
kver="${kpkg#linux-image-}"
kdir="$cache/kernel/$kver"
if [ ! -f "$kdir/.done" ]; then
    log "extracting $kernel_deb"
    rm -rf "$kdir" && mkdir -p "$kdir"
    dpkg -x "$kernel_deb" "$kdir"
    # The .deb ships no modules.dep: build it, as the package's postinst would.
    depmod -b "$kdir" "$kver"
    touch "$kdir/.done"
fi
install -m 0644 "$kdir/boot/vmlinuz-$kver" "$cache/out/vmlinuz"

bb_deb="$(download busybox-static)"
bbdir="$cache/busybox-static"
if [ ! -x "$bbdir/bin/busybox" ]; then
    rm -rf "$bbdir" && mkdir -p "$bbdir" && dpkg -x "$bb_deb" "$bbdir"
fi
busybox="$bbdir/bin/busybox"

# Populates directory $1 with the static busybox and one symlink per applet.
install_busybox() {
    local root="$1" applet
    mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
    install -m 0755 "$busybox" "$root/bin/busybox"
    for applet in $("$busybox" --list-full); do
        [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    done
}

# --- initramfs ------------------------------------------------------------------------------
# NIC and NFS are modules in Debian's kernel (CONFIG_NFS_FS=m), so the kernel's own nfsroot=
# cannot work: the initramfs inserts them in dependency order (modprobe --show-depends on the
# host), brings the NIC up with udhcpc and mounts the root with busybox mount, which hands the
# text options to mount(2) so the kernel itself speaks PORTMAP, MOUNT and NFS.
log "building the initramfs for $kver"
ird="$(mktemp -d)"
trap 'rm -rf "$ird"' EXIT
install_busybox "$ird"
mkdir -p "$ird"/{dev,proc,sys,tmp,newroot,etc,lib/modules} "$ird/usr/share/udhcpc"
: > "$ird/modules.order"
declare -A seen=()
for m in virtio_pci virtio_net e1000 nfsv3; do
    while read -r verb path _; do
        [ "$verb" = insmod ] || continue
        [ -n "${seen[$path]:-}" ] && continue
        seen[$path]=1
        install -D -m 0644 "$path" "$ird/lib/modules/$(basename "$path")"
        basename "$path" >> "$ird/modules.order"
    done < <(modprobe -d "$kdir" -S "$kver" --show-depends "$m")
done
install -m 0755 "$here/initramfs-init.sh" "$ird/init"
install -m 0755 "$here/udhcpc.script" "$ird/usr/share/udhcpc/default.script"
(cd "$ird" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) \
    > "$cache/out/initrd.img.tmp"
mv "$cache/out/initrd.img.tmp" "$cache/out/initrd.img"
rm -rf "$ird"
trap - EXIT

# --- the self-test's helper program ----------------------------------------------------------
# Static, so it runs on either root whatever its C library.
gcc -static -O2 -Wall -o "$cache/out/seekdir_check.tmp" "$here/seekdir_check.c" \
    || fail "gcc -static could not build seekdir_check.c"
mv "$cache/out/seekdir_check.tmp" "$cache/out/seekdir_check"

# --- root trees -----------------------------------------------------------------------------
# The files the VM runs from the repo are (re)installed on every run so an edit takes effect.
install_e2e_files() {
    local root="$1"
    install -D -m 0755 "$here/selftest.sh" "$root/e2e/selftest.sh"
    install -D -m 0755 "$cache/out/seekdir_check" "$root/e2e/seekdir_check"
    install -D -m 0755 "$here/udhcpc.script" "$root/usr/share/udhcpc/default.script"
    # The self-test removes it: its presence is how a client recognises a pristine root.
    echo "golden" > "$root/e2e/delete-me"
}

if [ "$variant" = busybox ]; then
    root="$cache/roots/busybox"
    log "building the busybox root in $root"
    rm -rf "$root" && mkdir -p "$root"
    install_busybox "$root"
    mkdir -p "$root"/{dev,proc,sys,tmp,run,root,home,var/tmp,var/lib/dpkg/info,etc,mnt}
    chmod 1777 "$root/tmp" "$root/var/tmp"
    chmod 0700 "$root/root"
    : > "$root/var/lib/dpkg/status"
    # e2e (65533) is the unprivileged user the self-test's permission checks run as (busybox su).
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
        'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
        'e2e:x:65533:65533:e2e:/nonexistent:/bin/sh' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\ne2e:x:65533:\n' > "$root/etc/group"
    echo rootfarm-e2e > "$root/etc/hostname"
    printf 'NAME="busybox root served by rootfarm"\nID=busybox\n' > "$root/etc/os-release"
    rm -f "$root/sbin/init"
    install -m 0755 "$here/rootfs-init.sh" "$root/sbin/init"
    install_e2e_files "$root"
    touch "$root/.e2e-ready"
else
    root="$cache/roots/debootstrap-$suite"
    if [ ! -f "$root/.debootstrap-done" ]; then
        log "debootstrap --variant=minbase $suite into $root (a few minutes, once)"
        rm -rf "$root" && mkdir -p "$root"
        timeout 1800 debootstrap --variant=minbase --include=systemd-sysv,udev,kmod,procps \
            "$suite" "$root" "$mirror" > "$cache/debootstrap.log" 2>&1 \
            || fail "debootstrap failed (no network?), see $cache/debootstrap.log"
        rm -rf "$root/var/cache/apt/archives/"*.deb
        touch "$root/.debootstrap-done"
    fi
    # Boot fix-ups: the root is on NFS, already mounted by the initramfs; no fstab entries, no
    # network management (the NIC is configured and carries the root), a console on ttyS0.
    echo "rootfarm-e2e" > "$root/etc/hostname"
    printf '# root is mounted over NFS by the initramfs\n' > "$root/etc/fstab"
    echo 'root:rootfarm' | chroot "$root" chpasswd
    install -D -m 0644 "$here/rootfarm-e2e.service" \
        "$root/etc/systemd/system/rootfarm-e2e.service"
    ln -sf /etc/systemd/system/rootfarm-e2e.service \
        "$root/etc/systemd/system/multi-user.target.wants/rootfarm-e2e.service"
    # systemd-networkd/udev must not take the NIC down under the NFS root.
    ln -sf /dev/null "$root/etc/systemd/system/systemd-networkd.service"
    ln -sf /dev/null "$root/etc/systemd/system/systemd-timesyncd.service"
    # A getty on ttyS0 would vhangup() the console the self-test reports on; the test needs
    # multi-user.target, not a login prompt.
    ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
    ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
    install_e2e_files "$root"
    touch "$root/.e2e-ready"
fi
echo "$cache"
