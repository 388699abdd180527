#!/usr/bin/env bash
# Rebuilds the committed seed corpora in fuzz/corpus/ (run it after a wire format changes):
#   - rootfarm_fuzz_seeds (make_seeds.cc): unit-test golden packets, kernel-style calls, and a
#     journal, snapshot, .ids file and handles written by the store itself;
#   - the configuration shipped in packaging/ and the example in README.md;
#   - Raspberry Pi OS's cmdline.txt and fstab;
#   - a FAT16 boot partition made by mkfs.vfat and mtools, and MBR and GPT tables made by
#     sfdisk, cut after their last non-zero byte (the fat and partition targets read zeros
#     past the input, fat_fuzz.cc and partition_fuzz.cc).
#
#   fuzz/make_corpus.sh [BUILD_DIR]     (default build-fuzz; builds rootfarm_fuzz_seeds)
#
# With WORK_CORPUS=DIR it also writes a FAT32 volume (its FAT alone is 256 KiB, too large to
# commit) into DIR/fat, a working corpus of scripts/fuzz.sh --work.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-fuzz}
corpus=$root/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --build "$build" --target rootfarm_fuzz_seeds >/dev/null
"$build/fuzz/rootfarm_fuzz_seeds" "$corpus"

mkdir -p "$corpus/config"
cp "$root/packaging/rootfarm.toml" "$corpus/config/packaging"
awk '/^```toml/ {on = 1; next} /^```/ {on = 0} on' "$root/README.md" >"$corpus/config/readme"

# cmdline.txt and fstab as Raspberry Pi OS ships them (mode byte 0 and 1 of image_text_fuzz.cc).
mkdir -p "$corpus/image_text"
{ printf '\0'; printf '%s\n' 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles cfg80211.ieee80211_regdom=GB'; } >"$corpus/image_text/cmdline-pios"
{ printf '\0'; printf '%s\n' 'console=serial0 root=/dev/nfs nfsroot=10.0.0.1:/srv/pi,vers=3 rw ip=dhcp rootwait'; } >"$corpus/image_text/cmdline-nfs"
{ printf '\1'; printf '%s\n' \
    'proc            /proc           proc    defaults          0       0' \
    'PARTUUID=4e639091-01  /boot/firmware  vfat    defaults          0       2' \
    'PARTUUID=4e639091-02  /               ext4    defaults,noatime  0       1' \
    '# a swapfile is not a swap partition, no line here; use  dphys-swapfile swap[on|off]  for that'; } >"$corpus/image_text/fstab-pios"

# The file (its first $3 bytes if given) up to its last non-zero byte, rounded up to a sector.
cut_zeros() {
    python3 - "$1" "$2" "${3:-0}" <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
if int(sys.argv[3]):
    data = data[:int(sys.argv[3])]
end = len(data.rstrip(b'\0'))
end = (end + 511) // 512 * 512
open(sys.argv[2], 'wb').write(data[:end])
PY
}

boot_files() {  # $1 = FAT image: the files of a Pi boot partition
    printf 'arm_64bit=1\nkernel=kernel8.img\n' >"$tmp/config.txt"
    printf 'console=serial0,115200 root=/dev/nfs rw ip=dhcp\n' >"$tmp/cmdline.txt"
    printf 'dtb' >"$tmp/overlay.dtbo"
    MTOOLS_SKIP_CHECK=1 mcopy -i "$1" "$tmp/config.txt" "$tmp/cmdline.txt" ::/
    MTOOLS_SKIP_CHECK=1 mcopy -i "$1" "$tmp/cmdline.txt" "::/A Long File Name.txt"
    MTOOLS_SKIP_CHECK=1 mmd -i "$1" ::/overlays
    MTOOLS_SKIP_CHECK=1 mcopy -i "$1" "$tmp/overlay.dtbo" ::/overlays/vc4-kms-v3d.dtbo
}

mkdir -p "$corpus/fat"
# FAT16 needs 4085 clusters at least: 1-sector clusters in 2.1 MB.
mkfs.vfat -C -F 16 -s 1 -r 64 -n BOOT "$tmp/fat16.img" 2200 >/dev/null
boot_files "$tmp/fat16.img"
cut_zeros "$tmp/fat16.img" "$corpus/fat/fat16"
mkfs.vfat -C -F 16 -s 1 -f 1 -r 16 "$tmp/fat16-1.img" 2200 >/dev/null
boot_files "$tmp/fat16-1.img"
cut_zeros "$tmp/fat16-1.img" "$corpus/fat/fat16-one-fat"
if [ -n "${WORK_CORPUS:-}" ]; then
    mkdir -p "$WORK_CORPUS/fat"
    mkfs.vfat -C -F 32 -s 1 -f 1 "$tmp/fat32.img" 34000 >/dev/null
    boot_files "$tmp/fat32.img"
    cut_zeros "$tmp/fat32.img" "$WORK_CORPUS/fat/fat32"
fi

mkdir -p "$corpus/partition"
truncate -s 16M "$tmp/disk.img"
printf 'start=2048, size=8192, type=c\nstart=10240, size=20000, type=83\n' |
    sfdisk -q "$tmp/disk.img" >/dev/null
cut_zeros "$tmp/disk.img" "$corpus/partition/mbr"
rm "$tmp/disk.img"
truncate -s 16M "$tmp/disk.img"
printf 'label: gpt\nstart=2048, size=8192, type=uefi\nstart=10240, size=20000, type=linux\n' |
    sfdisk -q "$tmp/disk.img" >/dev/null
# The primary GPT only (LBA 0-33); the backup at the end of the disk would make it 16 MiB.
cut_zeros "$tmp/disk.img" "$corpus/partition/gpt" $((34 * 512))

du -sh "$corpus"
