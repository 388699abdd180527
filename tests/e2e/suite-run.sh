#!/bin/sh
# In the VM (selftest.sh with rootfarm.e2e.workload=suite): public conformance suites, built by
# conformance.sh and installed in /e2e/suite, run on the NFS root by the kernel's NFS client.
#   cthon/basic, cthon/special   Connectathon's cthon04 tests: creation, removal, lookups,
#                                setattr, read/write, readdir, rename/link, symlinks, statfs;
#                                open-unlink, open-rename, exclusive create, lost replies of
#                                non-idempotent calls, telldir cookies, holes, 2 and 4 GiB edges
#   pjdfstest/                   POSIX semantics of chmod, chown, link, mkdir, mkfifo, mknod,
#                                open, rename, rmdir, symlink, truncate, unlink, utimensat, as
#                                root and as other uids and gids
# Lines: "SUITE <name> <test> ok|FAIL", "SUITE pjdfstest <file> ok=N notok=N" then each
# unexpected "not ok", a RESTART-POINT (the harness may kill -9 the server meanwhile; the
# suite does not wait), then "SUITE SUMMARY ..." and the caller's PASS or FAIL.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
say() { echo "ROOTFARM-E2E: $*"; }
# Each SUITE line says when its test ended, in seconds since the suites began.
t0=$(date +%s)
at() { echo "at $(($(date +%s) - t0)) s"; }
suite=/e2e/suite
failed=""
# run_test GROUP NAME COMMAND...: one test, its output shown only when it fails.
run_test() {
    group=$1
    name=$2
    shift 2
    if "$@" > /tmp/suite.out 2>&1; then r=ok; else r=FAIL; failed="$failed $group/$name"; fi
    [ $r = ok ] || sed 's/^/ROOTFARM-E2E:   /' /tmp/suite.out | tail -n 20
    say "SUITE $group $name $r $(at)"
}

# --- cthon04 basic (its runtests, test by test) ---------------------------------------------
NFSTESTDIR=/root/suite-cthon-basic
export NFSTESTDIR
rm -rf "$NFSTESTDIR" && mkdir -p "$NFSTESTDIR"
cd "$suite/cthon/basic" || exit 1
for t in test1 test2 test3 test4 test5 test6 test7 test8 test9; do
    # -t: timing output only, no interactive pause
    run_test cthon-basic $t ./$t -t
done

# The rest runs while the harness may restart the server.
say "RESTART-POINT"

# --- cthon04 special (the commands of its runtests.wrk) ---------------------------------------
d=/root/suite-cthon-special
rm -rf "$d" && mkdir -p "$d" && cp "$suite"/cthon/special/* "$d"/ && cd "$d" || exit 1
umask 0
for t in "op_unlk" "op_ren" "op_chmod" "dupreq 100 testfile" "excltest" "negseek testfile" \
    "rename 100" "truncate" "holey" "nfsidem 50 testdir" "rewind" "telldir" "freesp" \
    "bigfile -s 30 bigfile.a" "bigfile2 bigfile.b"; do
    run_test cthon-special "${t%% *}" env TMPDIR= ./$t
done
umask 022

# --- pjdfstest ----------------------------------------------------------------------------------
# Failures every NFSv3 server shows through Linux's client, so expected here too:
#   unlink/14.t 4     fstat of an open file after unlink says nlink 0: the client renamed it
#                     to .nfsXXXX instead of removing it (nfs_unlink's silly rename), nlink 1
#   utimensat/09.t 5  a time of 2^32 s: NFSv3 times have 32-bit seconds (RFC 1813 nfstime3),
#                     and the kernel clamps to the superblock's s_time_max, 2^32 - 1
# "not ok ... # TODO" lines are failures the suite itself expects on Linux.
expected="unlink/14.t:4 utimensat/09.t:5"
w=/root/suite-pjdfstest
total=0
unexpected=0
for t in "$suite"/pjdfstest/tests/*/*.t; do
    name=${t#"$suite"/pjdfstest/tests/}
    rm -rf "$w" && mkdir -p "$w" && chmod 0755 "$w" && cd "$w" || exit 1
    timeout 600 sh "$t" > /tmp/suite.out 2>&1
    n=$(grep -c '^ok' /tmp/suite.out)
    f=$(grep -c '^not ok' /tmp/suite.out)
    total=$((total + n + f))
    bad=0
    for num in $(grep '^not ok' /tmp/suite.out | grep -v '# TODO' | cut -d' ' -f3); do
        case " $expected " in
            *" $name:$num "*) ;;
            *)
                bad=$((bad + 1))
                awk -v n="$num" '$1 == "not" && $2 == "ok" && $3 == n' /tmp/suite.out |
                    head -n1 | sed "s|^|ROOTFARM-E2E:   $name |"
                ;;
        esac
    done
    # A file that printed nothing at all did not run.
    [ $((n + f)) -gt 0 ] || { bad=1; say "  $name ran no test: $(head -c 300 /tmp/suite.out)"; }
    [ $bad -eq 0 ] || { unexpected=$((unexpected + bad)); failed="$failed pjdfstest/$name"; }
    say "SUITE pjdfstest $name ok=$n notok=$f unexpected=$bad $(at)"
done
cd / && rm -rf "$w"
say "SUITE SUMMARY pjdfstest $total tests, $unexpected unexpected failure(s)"
[ -z "$failed" ] || { say "SUITE FAILED:$failed"; exit 1; }
exit 0
