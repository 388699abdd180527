#!/usr/bin/env bash
# End-to-end: a real Linux kernel netboots from `rootfarm serve` in a VM.
#
# In a network namespace of its own (bridge br0 10.77.0.1/24 + tap0, no route out) it starts
# `rootfarm serve` with DHCP in server mode, TFTP on 69, NFS on 2049, MOUNT, and the built-in
# portmap on 111 (no rpcbind), then boots QEMU with `-boot n`: iPXE (Debian's ipxe-qemu ROM) gets
# an address and the boot script from rootfarm, TFTP-loads Debian's kernel and the e2e initramfs,
# which mounts the root over NFSv3 from rootfarm and runs the self-test (selftest.sh). The
# verdict is read from the serial console.
#
#   run.sh [--variant busybox|debootstrap] [--rootfarm BIN] [--size MB] [--restart]
#          [--restart-boot] [--persist] [--second-vm] [--reset] [--timeout S]
#          [--overall S] [--log-level L] [--keep] [--trace FILE] [--suite]
#
#   --restart       kill -9 and restart the server while the VM's workload runs (files held
#                   open, a big write in flight); the VM must carry on and pass
#   --restart-boot  also kill -9 and restart it as soon as the root is mounted (mid-boot)
#   --persist       boot the first MAC again: it must see its own changes from the first boot
#   --second-vm     then boot a second MAC: it must see a pristine root
#   --reset         then `rootfarm client reset` the first MAC and boot it again: pristine
#   --timeout S     bound of each wait on the console (default 300)
#   --overall S     bound of all console waits together (default 3600): keep it under ctest's
#                   TIMEOUT so the run cleans up after itself
#   --trace FILE    record a boot for rootfarm-bench instead: `[nfs] trace` on, one boot of the
#                   first MAC with the self-test's workload off (rootfarm.e2e.workload=none),
#                   so FILE holds the NFS calls of a plain boot to multi-user.target and its
#                   shutdown, in the bench's trace format, under a header saying how it was made
#                   (the other boot options are refused)
#   --suite         run the conformance suites conformance.sh built (in $ROOTFARM_E2E_CONFORMANCE)
#                   instead of the self-test's workload; with --restart the server is killed
#                   while they run (only --restart and --restart-boot go with it)
# After the first VM, `rootfarm client diff` must show the self-test's changes.
# Exit status 0 only when every boot printed "ROOTFARM-E2E: PASS" and every check held.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

variant=busybox
rootfarm="${ROOTFARM_BIN:-}"
size=""
restart=0
restart_boot=0
second_vm=0
persist=0
reset=0
timeout_s=300
log_level=info
trace_out=""
suite=0
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --variant) variant="$2"; shift 2 ;;
        --rootfarm) rootfarm="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --restart) restart=1; shift ;;
        --restart-boot) restart_boot=1; shift ;;
        --second-vm) second_vm=1; shift ;;
        --persist) persist=1; shift ;;
        --reset) reset=1; shift ;;
        --timeout) timeout_s="$2"; shift 2 ;;
        --overall) E2E_DEADLINE=$(($(date +%s) + $2)); shift 2 ;;
        --log-level) log_level="$2"; shift 2 ;;
        --keep) E2E_KEEP=1; shift ;;
        --trace) trace_out="$2"; shift 2 ;;
        --suite) suite=1; shift ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$size" ] || { [ "$variant" = busybox ] && size=20 || size=100; }
[ -n "$rootfarm" ] || rootfarm="$E2E_HERE/../../build/cli/rootfarm"
[ -x "$rootfarm" ] || { echo "run.sh: FAILED: no rootfarm binary at $rootfarm" >&2; exit 1; }
rootfarm="$(realpath "$rootfarm")"
if [ -n "$trace_out" ]; then
    [ $((restart + restart_boot + persist + second_vm + reset)) -eq 0 ] ||
        { echo "run.sh: --trace records one plain boot: no restart/persist/VM options" >&2; exit 2; }
    trace_out="$(realpath -m "$trace_out")"
fi

if [ "$suite" -eq 1 ]; then
    [ -z "$trace_out" ] && [ $((persist + second_vm + reset)) -eq 0 ] ||
        { echo "run.sh: --suite boots once: no --trace, --persist, --second-vm or --reset" >&2; exit 2; }
    [ -d "${ROOTFARM_E2E_CONFORMANCE:-}" ] ||
        { echo "run.sh: --suite needs the suites conformance.sh builds" >&2; exit 2; }
fi

t0=$(date +%s)
# prepare.sh says why when it fails (no network, no mirror); that fails the test.
cache="$(bash "$E2E_HERE/prepare.sh" --variant "$variant" | tail -n1)" \
    || { echo "run.sh: FAILED: prepare.sh could not prepare the $variant variant" >&2; exit 1; }
e2e_log "prepared the $variant variant in $(($(date +%s) - t0)) s (cache $cache)"

e2e_setup
E2E_ROOTFARM="$rootfarm"
kernel_args=("rootfarm.e2e.size=$size")
if [ -n "$trace_out" ]; then
    e2e_write_config "$log_level" "$E2E_WORK/nfs.trace"
    kernel_args+=(rootfarm.e2e.workload=none)
else
    e2e_write_config "$log_level"
    [ "$suite" -eq 0 ] || kernel_args+=(rootfarm.e2e.workload=suite)
fi
t=$(date +%s)
e2e_stage_image "$cache" "$variant" "${kernel_args[@]}"
e2e_log "image ready in $(($(date +%s) - t)) s"

accel="$(e2e_accel "$cache" "$cache/out/vmlinuz")"
failures=0
fail_check() {
    e2e_log "CHECK FAILED: $*"
    failures=$((failures + 1))
}

# Boots MAC $1 once; $2: the STATE the root must show ("pristine", or "dirty <marker lines>
# delete-me=no" for a root the self-test already ran on); $3: a label. Returns
# non-zero when the boot did not PASS.
boot() {
    local mac="$1" want_state="$2" label="$3" console t rc=0 state_line
    console="$E2E_WORK/console-$label.log"
    t=$(date +%s)
    e2e_log "[$label] booting $mac ($accel) from rootfarm"
    e2e_boot_vm "$mac" "$console" "$E2E_WORK/ctl-$label" "$accel"
    local vm=$E2E_VM_PID
    if [ "$restart_boot" -eq 1 ] && [ "$label" = first ]; then
        e2e_wait_for "$console" "ROOTFARM-E2E: (ROOT-MOUNTED|FAIL)" "$timeout_s" "$vm" || rc=1
        if [ $rc -eq 0 ] && grep -aq "ROOTFARM-E2E: ROOT-MOUNTED" "$console"; then
            e2e_log "[$label] root mounted after $(($(date +%s) - t)) s"
            e2e_kill9_restart "mid-boot, right after the root was mounted"
        fi
    fi
    # Without the workload (--trace) there is no restart point: the self-test passes at once.
    if [ $rc -eq 0 ] && [ -z "$trace_out" ]; then
        e2e_wait_for "$console" "ROOTFARM-E2E: (RESTART-POINT|FAIL)" "$timeout_s" "$vm" || rc=1
    fi
    if [ $rc -eq 0 ] && grep -aq "ROOTFARM-E2E: RESTART-POINT" "$console"; then
        e2e_log "[$label] workload running after $(($(date +%s) - t)) s"
        [ "$restart" -eq 1 ] && [ "$label" = first ] && e2e_kill9_restart "during the workload"
        e2e_send_ctl "$E2E_WORK/ctl-$label" RESUME || rc=1
    fi
    if [ $rc -eq 0 ]; then
        e2e_wait_for "$console" "ROOTFARM-E2E: (PASS|FAIL)" "$timeout_s" "$vm" || rc=1
    fi
    if [ $rc -ne 0 ]; then
        kill -KILL "$vm" 2>/dev/null
        wait "$vm" 2>/dev/null || true
    elif ! e2e_wait_pid "$vm" 60; then
        e2e_log "[$label] the VM did not power off"
        rc=1
    fi
    state_line="$(grep -a "ROOTFARM-E2E: STATE" "$console" | head -n1 | tr -d '\r' || true)"
    # The conformance suites' report, test by test, pass or fail.
    [ "$suite" -eq 0 ] || grep -a "ROOTFARM-E2E: \(SUITE\|  \)" "$console" | tr -d '\r' >&2 || true
    if [ $rc -eq 0 ] && grep -aq "ROOTFARM-E2E: PASS" "$console"; then
        e2e_log "[$label] PASS in $(($(date +%s) - t)) s; ${state_line#ROOTFARM-E2E: }"
    else
        e2e_log "[$label] did not pass"
        e2e_diagnose "$console"
        e2e_log "--- rootfarm serve log tail:"
        tail -n 40 "$E2E_SERVE_LOG" >&2
        return 1
    fi
    [ -n "$trace_out" ] || [ "$suite" -eq 1 ] || grep -aq "ROOTFARM-E2E: DPKG ok" "$console" ||
        fail_check "[$label] dpkg -i was not run"
    if [ -z "$trace_out" ] && [ "$suite" -eq 0 ]; then
        grep -aq "ROOTFARM-E2E: PERMISSIONS ok" "$console" ||
            fail_check "[$label] the unprivileged SETATTR checks did not run"
        local seek_line
        seek_line="$(grep -a "ROOTFARM-E2E: SEEKDIR" "$console" | head -n1 | tr -d '\r' || true)"
        case "$seek_line" in
            "ROOTFARM-E2E: SEEKDIR ok"*) e2e_log "[$label] ${seek_line#ROOTFARM-E2E: }" ;;
            *) fail_check "[$label] telldir/seekdir: ${seek_line:-no SEEKDIR line}" ;;
        esac
    fi
    if [ "$variant" = debootstrap ]; then
        grep -aq "ROOTFARM-E2E: MULTI-USER active" "$console" \
            || fail_check "[$label] systemd did not reach multi-user.target"
    fi
    local want_host=e2e-one host_line
    [ "$mac" = "$E2E_MAC1" ] || want_host=e2e-two
    host_line="$(grep -a "ROOTFARM-E2E: HOSTNAME" "$console" | head -n1 | tr -d '\r' || true)"
    [ "$host_line" = "ROOTFARM-E2E: HOSTNAME $want_host hosts=$want_host" ] \
        || fail_check "[$label] /etc/hostname and /etc/hosts should name $want_host:" \
            "${host_line:-nothing}"
    [ "$state_line" = "ROOTFARM-E2E: STATE $want_state" ] \
        || fail_check "[$label] the root should be $want_state, the VM saw: ${state_line:-nothing}"
    return 0
}

e2e_start_server
boot "$E2E_MAC1" pristine first || exit 1

if [ -n "$trace_out" ]; then
    e2e_stop_server
    [ "$failures" -eq 0 ] || { e2e_log "FAIL: $failures check(s) failed"; exit 1; }
    e2e_write_trace "$E2E_WORK/nfs.trace" "$trace_out" "$E2E_WORK/console-first.log" \
        "tests/e2e/run.sh ${args[*]}" "$variant" "$accel"
    e2e_log "PASS: trace of a $variant boot in $trace_out ($(grep -vc '^#' "$trace_out") calls)"
    exit 0
fi

# The first client's changes are in its delta, and nowhere else.
e2e_stop_server
"$rootfarm" --config "$E2E_CONFIG" client diff "$E2E_MAC1" > "$E2E_WORK/diff.txt" 2>&1 \
    || fail_check "rootfarm client diff $E2E_MAC1 failed: $(head -n3 "$E2E_WORK/diff.txt")"
changed=(/etc/rootfarm-e2e-changed /var/lib/rootfarm-e2e/boots /e2e/delete-me /root/e2e-work/h2)
[ "$suite" -eq 0 ] || changed=(/root/suite-cthon-special/holey)
for path in "${changed[@]}"; do
    grep -q -- "$path" "$E2E_WORK/diff.txt" || fail_check "client diff does not mention $path"
done
e2e_log "rootfarm client diff $E2E_MAC1: $(wc -l < "$E2E_WORK/diff.txt") lines"
sed -n '1,15p' "$E2E_WORK/diff.txt" | sed 's/^/    /' >&2
e2e_start_server

if [ "$persist" -eq 1 ]; then
    boot "$E2E_MAC1" "dirty boot-by-$E2E_MAC1 delete-me=no" again || exit 1
fi
if [ "$second_vm" -eq 1 ]; then
    boot "$E2E_MAC2" pristine second || exit 1
fi
if [ "$reset" -eq 1 ]; then
    e2e_stop_server
    "$rootfarm" --config "$E2E_CONFIG" client reset "$E2E_MAC1" > "$E2E_WORK/reset.txt" 2>&1 \
        || fail_check "rootfarm client reset $E2E_MAC1 failed: $(head -n3 "$E2E_WORK/reset.txt")"
    e2e_start_server
    boot "$E2E_MAC1" pristine after-reset || exit 1
fi
e2e_stop_server

if [ "$failures" -ne 0 ]; then
    e2e_log "FAIL: $failures check(s) failed"
    exit 1
fi
e2e_log "PASS: $variant root over rootfarm in $(($(date +%s) - t0)) s" \
    "(restart during workload: $restart, mid-boot: $restart_boot, persist: $persist," \
    "second VM: $second_vm, reset: $reset)"
exit 0
