#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/README.md) and runs each for a while on its corpus.
#
#   scripts/fuzz.sh [--build DIR] [--no-build] [--seconds N] [--work DIR] [--log FILE]
#                   [--rss MB] [TARGET...]
#
# TARGET is a name under fuzz/ without _fuzz.cc (rpc_record, nfs_args, ...); all by default.
# Each target reads its committed corpus (fuzz/corpus/TARGET), its regressions
# (fuzz/regressions/TARGET) and its working corpus (WORK/corpus/TARGET, where the inputs it
# finds are kept, so a later run goes on from there). A crash, leak, timeout or out-of-memory
# input is saved as WORK/artifacts/TARGET/<kind>-<sha1>. Prints per target the CPU seconds it
# ran and the inputs it executed; with --log, appends the same line to FILE. Exits non-zero if
# any target found something.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
do_build=1
seconds=60
work=
log=
rss=2048
targets=()
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --no-build) do_build=0; shift ;;
        --seconds) seconds=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --log) log=$2; shift 2 ;;
        --rss) rss=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
work=${work:-$build/fuzz/work}
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$root"/fuzz/*_fuzz.cc; do
        n=$(basename "$f" _fuzz.cc)
        targets+=("$n")
    done
fi

if [ "$do_build" = 1 ]; then
    if [ ! -f "$build/CMakeCache.txt" ]; then
        command -v clang++ >/dev/null ||
            { echo "fuzz.sh: clang++ not found (Debian packages clang, libclang-rt-dev)" >&2; exit 2; }
        launcher=()
        command -v ccache >/dev/null &&
            launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
        CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DROOTFARM_FUZZ=ON "${launcher[@]}" >/dev/null
    fi
    cmake --build "$build" -j"${JOBS:-2}" --target "${targets[@]/%/_fuzz}"
fi

# The journal, snapshot and import targets write files for every input: a tmpfs keeps that
# (and the journal's fdatasync) off the disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
# An input that leaks is a finding too; ASan's other reports abort the run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Sets $children_cpu to the user plus system seconds of every child this shell has waited for.
# bash's `times` must run in this very shell: in a pipeline or $(...) it would report a
# subshell's children instead.
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
read_children_cpu() {
    times >"$times_file"
    children_cpu=$(awk 'NR == 2 {
        n = 0
        for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); n += p[1] * 60 + p[2] }
        printf "%.3f", n }' "$times_file")
}

failed=0
printf '%-16s %10s %12s  %s\n' target cpu_seconds executions result
for t in "${targets[@]}"; do
    bin=$build/fuzz/${t}_fuzz
    [ -x "$bin" ] || { echo "fuzz.sh: $bin not built" >&2; exit 2; }
    corpus=$work/corpus/$t
    artifacts=$work/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    dirs=("$corpus")
    for d in "$root/fuzz/corpus/$t" "$root/fuzz/regressions/$t"; do
        [ -d "$d" ] && dirs+=("$d")
    done
    args=(-max_total_time="$seconds" -rss_limit_mb="$rss" -timeout=25 -print_final_stats=1
          -artifact_prefix="$artifacts/")
    [ -f "$root/fuzz/dict/$t.dict" ] && args+=(-dict="$root/fuzz/dict/$t.dict")
    # nfs_args keeps a server between inputs (the DRC, the client's delta): libFuzzer would take
    # each input's new state for a leak and scan the heap and 50 thread stacks after every one.
    [ "$t" = nfs_args ] && args+=(-detect_leaks=0)
    out=$work/$t.log
    # CPU time of the fuzzer process alone, from the shell's accounting of its children.
    set +e
    read_children_cpu
    t0=$children_cpu
    "$bin" "${args[@]}" "${dirs[@]}" >"$out" 2>&1
    rc=$?
    read_children_cpu
    cpu=$(awk -v a="$t0" -v b="$children_cpu" 'BEGIN { printf "%.1f", b - a }')
    set -e
    execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$out" | tail -1)
    result=ok
    if [ "$rc" != 0 ]; then
        result="FOUND (exit $rc): $(grep -m1 -E 'ERROR: |runtime error|Test unit written' "$out" || true) see $out"
        failed=1
    fi
    printf '%-16s %10s %12s  %s\n' "$t" "$cpu" "${execs:-?}" "$result"
    if [ -n "$log" ]; then
        printf '%s %s cpu_seconds=%s executions=%s corpus_files=%s result=%s\n' \
            "$(date -u +%FT%TZ)" "$t" "$cpu" "${execs:-?}" "$(ls "$corpus" | wc -l)" \
            "$( [ "$rc" = 0 ] && echo ok || echo "exit-$rc")" >>"$log"
    fi
done
exit $failed
