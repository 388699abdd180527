#!/usr/bin/env bash
# Installs rootfarm's build and test dependencies from Debian's packages when any is missing.
# Idempotent; prints nothing when everything is already there.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config
    libtirpc-dev liburing-dev libxxhash-dev libspdlog-dev libfmt-dev
    libgtest-dev libgmock-dev libbenchmark-dev libtomlplusplus-dev libcli11-dev
    libext2fs-dev liblzma-dev libnfs-dev libnfs-utils libsystemd-dev libcpp-httplib-dev
    e2fsprogs dosfstools mtools fdisk xz-utils
    busybox udhcpc isc-dhcp-client tftp-hpa curl rpcbind iproute2 dnsmasq-base
    qemu-system-x86 ipxe-qemu kmod cpio debootstrap
    systemd systemd-container man-db
    chromium prometheus ccache
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
