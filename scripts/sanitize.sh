#!/usr/bin/env bash
# Builds and runs tests under a sanitizer or clang's thread-safety analysis (CMakePresets.json).
#
#   scripts/sanitize.sh asan            ASan+UBSan, the default suite (ctest -LE 'e2e-full|bench|install|soak|fuzz')
#   scripts/sanitize.sh asan -L unit    ... only the unit tests (extra arguments go to ctest)
#   scripts/sanitize.sh tsan            TSan, the threaded parts: loop, blocking pool, store, DRC,
#                                       registry and clients, the in-process NFS server tests
#   scripts/sanitize.sh thread-safety   clang build with -Wthread-safety as errors (no tests)
#
# JOBS=n sets the build's parallelism (default: nproc). Prints the build and test times.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
shift || true
jobs=${JOBS:-$(nproc)}

# Everything the default suite runs; the benchmarks are left out of sanitizer builds.
asan_targets=(rootfarm core_test trace_format_test store_test clients_test nfsd_wire_test
    nfsd_test nfsd_read_test nfsd_read_data_test nfsd_write_test nfsd_setattr_test nfsd_hostile_test
    nfsd_blocking_test nfsd_durability_test nfsd_portmap_test nfsd_rollout_test trace_replay_test
    nfsd_serve_test nfsd_flood_test tftpd_test tftpd_integration_test tftpd_inprocess_test
    dhcpd_test dhcpd_integration_test images_test images_import_test bench_unit_test serve_test
    pi_life_test doctor_test http_test version_test notify_test kill9_test isolation_test)
# The fuzz targets with a replay main (fuzz/CMakeLists.txt): their seeds and regressions.
for f in fuzz/*_fuzz.cc; do
    n=$(basename "$f" _fuzz.cc)
    asan_targets+=("${n}_replay")
done
tsan_targets=(rootfarm core_test store_test clients_test nfsd_wire_test nfsd_blocking_test nfsd_read_data_test
    nfsd_serve_test)
# ctest names are Suite.Test (gtest_discover_tests).
tsan_tests='^(Loop|DatagramDropFilterTest|SourceLimiterTest|LoopDeathTest|LoopSplice|CommitLogTest|PowerLoss|Metrics|Drc|NfsBlocking|NfsServe|ClientRegistry|ClientsTest|Leases|LeaseFile|Concurrency|CookieTest|Crash|GenerateTest|IdMap|ImageIndexTest|ImageMetadata|Journal|NamesTest|PersistenceTest|Snapshot|Unprivileged|ViewTest)\.'

timed() {
    local what=$1
    shift
    local start=$SECONDS
    "$@"
    echo "== $what: $((SECONDS - start)) s"
}

case $mode in
    asan)
        cmake --preset asan >/dev/null
        timed "asan build" cmake --build --preset asan -j"$jobs" --target "${asan_targets[@]}"
        # kill9_soak_test is labelled soak but not built here; gtest_discover_tests stands in an
        # unlabelled placeholder for it, which the preset's label filter cannot leave out.
        timed "asan tests" ctest --preset asan --timeout 900 -E '^kill9_soak_test_NOT_BUILT$' "$@"
        ;;
    tsan)
        cmake --preset tsan >/dev/null
        timed "tsan build" cmake --build --preset tsan -j"$jobs" --target "${tsan_targets[@]}"
        timed "tsan tests" ctest --preset tsan --timeout 900 -R "$tsan_tests" "$@"
        ;;
    thread-safety)
        cmake --preset thread-safety >/dev/null
        timed "clang thread-safety build" cmake --build --preset thread-safety -j"$jobs" "$@"
        ;;
    *)
        echo "usage: $0 asan|tsan|thread-safety [ctest arguments...]" >&2
        exit 2
        ;;
esac
