#!/usr/bin/env bash
# Public conformance suites against rootfarm, through the Linux kernel's NFS client: a VM
# netboots the busybox root from `rootfarm serve` (run.sh) and runs, on its NFS root,
#   - Connectathon's cthon04 basic and special tests,
#   - pjdfstest (POSIX semantics as root and as other uids),
# then reports each test (suite-run.sh, in the VM). Neither suite is packaged by Debian, so
# their sources are given, e.g. clones of
#   git://git.linux-nfs.org/projects/steved/cthon04.git   https://github.com/pjd/pjdfstest
#
#   conformance.sh --cthon DIR --pjdfstest DIR [--rootfarm BIN] [--restart] [--timeout S]
#
# --restart: kill -9 and restart the server once cthon's basic tests passed, while the rest run.
# Without --cthon/--pjdfstest, $ROOTFARM_CTHON_SRC and $ROOTFARM_PJDFSTEST_SRC; when neither is
# set it exits 77 (ctest's "skipped": label `conformance`, not in the default run).
# Needs root, gcc and what run.sh needs. Exit status 0 only when every test passed, apart from
# the two that every NFSv3 server fails through this client (suite-run.sh says which and why).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

cthon="${ROOTFARM_CTHON_SRC:-}"
pjd="${ROOTFARM_PJDFSTEST_SRC:-}"
rootfarm="$here/../../build/cli/rootfarm"
timeout_s=1200
pass=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cthon) cthon="$2"; shift 2 ;;
        --pjdfstest) pjd="$2"; shift 2 ;;
        --rootfarm) rootfarm="$2"; shift 2 ;;
        --restart) pass+=(--restart); shift ;;
        --timeout) timeout_s="$2"; shift 2 ;;
        *) echo "conformance.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$cthon" ] && [ -z "$pjd" ]; then
    echo "conformance.sh: skipped: no suite sources (--cthon/--pjdfstest, or ROOTFARM_CTHON_SRC" \
        "and ROOTFARM_PJDFSTEST_SRC)" >&2
    exit 77
fi
for dir in "$cthon" "$pjd"; do
    [ -d "$dir" ] || { echo "conformance.sh: FAILED: no source tree at '$dir'" >&2; exit 1; }
done
[ -f "$cthon/basic/test1.c" ] || { echo "conformance.sh: FAILED: $cthon is not cthon04" >&2; exit 1; }
[ -f "$pjd/pjdfstest.c" ] || { echo "conformance.sh: FAILED: $pjd is not pjdfstest" >&2; exit 1; }

work="$(mktemp -d /tmp/rootfarm-conformance.XXXXXX)"
trap 'rm -rf "$work"' EXIT
suite="$work/suite"
mkdir -p "$suite/cthon/basic" "$suite/cthon/special" "$suite/pjdfstest"
log() { echo "conformance [$(date +%T)] $*" >&2; }

# Static, so they run on the busybox root whatever its C library. cthon04's own flags for Linux
# (its tests.init), without -lnsl: these tests make no RPC calls of their own.
log "building cthon04 from $cthon"
cp -a "$cthon/." "$work/cthon"
for part in basic special; do
    make -s -C "$work/cthon/$part" CC=gcc LIBS= \
        CFLAGS="-static -O1 -w -DLINUX -DHAVE_SOCKLEN_T -DGLIBC=22 -DMMAP -DSTDARG" \
        > "$work/cthon-$part.log" 2>&1 ||
        { tail -n 20 "$work/cthon-$part.log" >&2; log "FAILED: cthon04 $part did not build"; exit 1; }
    find "$work/cthon/$part" -maxdepth 1 -type f -perm -u+x ! -name '*.sh' ! -name 'runtests*' \
        -exec cp {} "$suite/cthon/$part/" \;
done

# pjdfstest without autotools: what configure finds on Linux with glibc, given by hand.
log "building pjdfstest from $pjd"
cp -a "$pjd/." "$work/pjd"
: > "$work/pjd/config.h"
gcc -static -O1 -w -D_GNU_SOURCE -DHAVE_SYS_SYSMACROS_H -DHAVE_OPENAT -DHAVE_UNLINKAT \
    -DHAVE_MKDIRAT -DHAVE_LINKAT -DHAVE_SYMLINKAT -DHAVE_RENAMEAT -DHAVE_MKFIFOAT -DHAVE_MKNODAT \
    -DHAVE_FCHMODAT -DHAVE_FCHOWNAT -DHAVE_FSTATAT -DHAVE_FACCESSAT -DHAVE_READLINKAT \
    -DHAVE_POSIX_FALLOCATE -DHAVE_UTIMENSAT -DHAVE_STRUCT_STAT_ST_ATIM -DHAVE_STRUCT_STAT_ST_MTIM \
    -DHAVE_STRUCT_STAT_ST_CTIM -I"$work/pjd" -o "$suite/pjdfstest/pjdfstest" \
    "$work/pjd/pjdfstest.c" || { log "FAILED: pjdfstest did not build"; exit 1; }
cp -a "$work/pjd/tests" "$suite/pjdfstest/tests"
# Two fix-ups for busybox: its df has no -T (the file system is NFS, said so), and there is no
# openssl for the random names (md5sum makes the same kind of name).
sed -i 's/^\(\s*\)fs=`df -PT .*$/\1fs=NFS/' "$suite/pjdfstest/tests/conf"
sed -i "s/openssl md5 | awk '{print \$NF}'/md5sum | awk '{print \$1}'/" \
    "$suite/pjdfstest/tests/misc.sh"
grep -q '^\s*fs=NFS' "$suite/pjdfstest/tests/conf" && grep -q md5sum "$suite/pjdfstest/tests/misc.sh" ||
    { log "FAILED: pjdfstest's conf or misc.sh no longer looks as expected"; exit 1; }

install -m 0755 "$here/suite-run.sh" "$suite/run.sh"
log "running them in a VM booted from $rootfarm"
ROOTFARM_E2E_CONFORMANCE="$suite" bash "$here/run.sh" --variant busybox --suite \
    --rootfarm "$rootfarm" --timeout "$timeout_s" --overall $((timeout_s * 2)) "${pass[@]}"
