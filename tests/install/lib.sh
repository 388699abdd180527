# shellcheck shell=bash
# Shared by deb_test.sh and systemd_test.sh: the Debian package built by cpack, a fresh Debian
# root (debootstrap --variant=minbase, cached like tests/e2e/prepare.sh's trees), and an overlay
# of it per run in which the package is installed with apt from Debian's mirror.
#
# The caller calls inst_setup "$@" first: it reads `--build DIR --version X.Y.Z` into `build`
# and `version`, re-runs the script in a private mount namespace (every mount goes away with
# it), makes INST_TMP and removes it on exit, after unmounting.

INST_CACHE="${ROOTFARM_E2E_CACHE:-/var/cache/rootfarm-e2e}/install"
INST_SUITE="${ROOTFARM_E2E_SUITE:-bookworm}"
INST_MIRROR="${ROOTFARM_E2E_MIRROR:-http://deb.debian.org/debian}"
INST_BASE="$INST_CACHE/root-$INST_SUITE"
# Downloaded packages, kept for the next run.
INST_ARCHIVES="$INST_CACHE/archives"
INST_TMP=""
INST_ROOT=""
INST_DEB=""
INST_FAILURES=0

inst_log() { echo "$(basename "$0" .sh) [$(date -u +%H:%M:%S)] $*" >&2; }
inst_die() { echo "FAIL: $*" >&2; exit 1; }

# check WHAT COMMAND...: records a failure instead of stopping, so one run shows them all.
check() {
    local what="$1"
    shift
    if ! "$@"; then
        echo "FAIL: $what" >&2
        INST_FAILURES=$((INST_FAILURES + 1))
    fi
}

inst_finish() {
    if [ "$INST_FAILURES" -gt 0 ]; then
        echo "$INST_FAILURES check(s) failed" >&2
        exit 1
    fi
    echo "PASS"
}

inst_cleanup() {
    local status=$?
    set +e
    # Unmount before removing: nothing of the cache or the host may be reached through the root.
    [ -n "$INST_ROOT" ] && umount -R "$INST_ROOT" 2> /dev/null
    [ -n "$INST_TMP" ] && rm -rf --one-file-system "$INST_TMP"
    exit $status
}

# inst_setup "$@": the arguments, root (else exit 77, skipped), a private mount namespace,
# INST_TMP.
inst_setup() {
    build="" version=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --build) build="$(cd "$2" && pwd)"; shift 2 ;;
            --version) version="$2"; shift 2 ;;
            *) echo "$(basename "$0"): unknown argument $1" >&2; exit 2 ;;
        esac
    done
    [ -n "$build" ] && [ -n "$version" ] ||
        { echo "usage: $(basename "$0") --build DIR --version X.Y.Z" >&2; exit 2; }
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: needs root for chroot and mounts"
        exit 77
    fi
    if [ -z "${ROOTFARM_INSTALL_TEST_UNSHARED:-}" ]; then
        exec env ROOTFARM_INSTALL_TEST_UNSHARED=1 unshare --mount --propagation private \
            bash "$0" --build "$build" --version "$version"
    fi
    INST_TMP="$(mktemp -d /tmp/rootfarm-install-test.XXXXXX)"
    INST_ROOT="$INST_TMP/root"
    trap inst_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Builds the package from the build directory `build` into INST_DEB.
inst_build_deb() {
    inst_log "cpack -G DEB"
    cpack --config "$build/CPackConfig.cmake" -G DEB -B "$INST_TMP/pkg" > "$INST_TMP/cpack.log" 2>&1 ||
        { cat "$INST_TMP/cpack.log" >&2; inst_die "cpack -G DEB"; }
    INST_DEB="$INST_TMP/pkg/rootfarm_${version}_amd64.deb"
    [ -f "$INST_DEB" ] || inst_die "no $(basename "$INST_DEB") in: $(ls "$INST_TMP/pkg")"
}

# Mounts an overlay of the cached root at INST_ROOT, with /proc and the package cache; its
# upper layer starts empty.
inst_mount_root() {
    rm -rf --one-file-system "$INST_TMP/upper" "$INST_TMP/work"
    mkdir -p "$INST_TMP/upper" "$INST_TMP/work" "$INST_ROOT"
    mount -t overlay overlay \
        -o "lowerdir=$INST_BASE,upperdir=$INST_TMP/upper,workdir=$INST_TMP/work" "$INST_ROOT"
    mount -t proc proc "$INST_ROOT/proc"
    mount --bind "$INST_ARCHIVES" "$INST_ROOT/var/cache/apt/archives"
    cp /etc/resolv.conf "$INST_ROOT/etc/resolv.conf"
    cp "$INST_DEB" "$INST_ROOT/tmp/"
}

inst_umount_root() { umount -R "$INST_ROOT"; }

# A fresh root with the package and packages "$@" installed by apt-get, its dependencies from
# the mirror (or the package cache). The cached root is made once; its package lists are
# refreshed when the mirror has moved on.
inst_root_with_package() {
    mkdir -p "$INST_CACHE" "$INST_ARCHIVES"
    exec 9> "$INST_CACHE/.lock"
    flock -w 1800 9 || inst_die "another install test holds $INST_CACHE/.lock for over 30 minutes"
    if [ ! -f "$INST_BASE/.done" ]; then
        inst_log "debootstrap --variant=minbase $INST_SUITE into $INST_BASE (once)"
        rm -rf --one-file-system "$INST_BASE" && mkdir -p "$INST_BASE"
        timeout 1800 debootstrap --variant=minbase "$INST_SUITE" "$INST_BASE" "$INST_MIRROR" \
            > "$INST_CACHE/debootstrap.log" 2>&1 ||
            inst_die "debootstrap failed (no network?), see $INST_CACHE/debootstrap.log"
        rm -f "$INST_BASE/var/cache/apt/archives/"*.deb
        touch "$INST_BASE/.done"
    fi
    local deb_in_root
    deb_in_root="/tmp/$(basename "$INST_DEB")"
    inst_log "apt-get install ./$(basename "$INST_DEB")${*:+ $*} in a fresh $INST_SUITE root"
    inst_mount_root
    if ! inst_apt_install "$deb_in_root" "$@"; then
        inst_log "apt-get update in the cached root"
        inst_umount_root
        mount -t proc proc "$INST_BASE/proc"
        cp /etc/resolv.conf "$INST_BASE/etc/resolv.conf"
        timeout 600 chroot "$INST_BASE" apt-get update -q > "$INST_TMP/update.log" 2>&1 ||
            { umount "$INST_BASE/proc"; cat "$INST_TMP/update.log" >&2; inst_die "apt-get update failed (no network?)"; }
        umount "$INST_BASE/proc"
        inst_mount_root
        inst_apt_install "$deb_in_root" "$@" ||
            { cat "$INST_TMP/apt.log" >&2; inst_die "apt-get install of the package failed"; }
    fi
    flock -u 9
}

inst_apt_install() {
    timeout 900 chroot "$INST_ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        > "$INST_TMP/apt.log" 2>&1
}

# Runs "$@" in the root.
in_root() { chroot "$INST_ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
# The same in a network namespace of its own: no packet reaches the host's network.
offline() { unshare --net chroot "$INST_ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
