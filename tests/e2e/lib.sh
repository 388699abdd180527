# Shared pieces of the end-to-end harness (sourced by run.sh, demo.sh and reference-check.sh):
# a private network namespace with a bridge and a tap device, cleanup that always runs, QEMU
# booting from the network inside it, and bounded waits on the serial console.
#
# Addresses exist only inside the namespace (10.77.0.0/24, no route out): nothing the VM or the
# servers send can leave it.

E2E_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_SUBNET_PREFIX=10.77.0
E2E_SERVER_IP=10.77.0.1
E2E_MAC1=52:54:00:e2:e0:01
E2E_MAC2=52:54:00:e2:e0:02
E2E_PIDS=()
E2E_KEEP=0
E2E_NS=""
E2E_WORK=""
# Every console wait ends by this time (seconds since the epoch), so a run stops and cleans up
# by itself before ctest's TIMEOUT would kill it without a chance to remove the namespace.
E2E_DEADLINE=$(($(date +%s) + 3600))

e2e_log() { echo "e2e [$(date -u +%H:%M:%S)] $*" >&2; }

# Runs on every exit path: kills what this script started (by pid), deletes the namespace (and
# with it the bridge and the tap), removes the work directory unless --keep.
e2e_cleanup() {
    local status=$? pid
    set +e
    trap - EXIT INT TERM HUP
    for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${E2E_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${E2E_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    if [ -n "$E2E_NS" ]; then
        # Anything still running inside our namespace was started by this run.
        for pid in $(ip netns pids "$E2E_NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$E2E_NS" 2>/dev/null
    fi
    if [ -n "$E2E_WORK" ] && [ -d "$E2E_WORK" ]; then
        if [ "$E2E_KEEP" -eq 1 ] || [ $status -ne 0 ]; then
            e2e_log "work directory kept: $E2E_WORK"
        else
            rm -rf "$E2E_WORK"
        fi
    fi
    exit $status
}

# Creates the work directory and the namespace; installs the cleanup trap first.
e2e_setup() {
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    E2E_WORK="$(mktemp -d /tmp/rootfarm-e2e.XXXXXX)"
    E2E_NS="rootfarm-e2e-$$-$RANDOM"
    ip netns add "$E2E_NS"
    e2e_ns ip link set lo up
    e2e_ns ip link add br0 type bridge
    e2e_ns ip addr add "$E2E_SERVER_IP/24" dev br0
    e2e_ns ip link set br0 up
    e2e_ns ip tuntap add dev tap0 mode tap
    e2e_ns ip link set tap0 master br0
    e2e_ns ip link set tap0 up
    e2e_log "namespace $E2E_NS, bridge br0 $E2E_SERVER_IP/24, tap0; work in $E2E_WORK"
}

e2e_ns() { ip netns exec "$E2E_NS" "$@"; }

# Starts "$@" inside the namespace in the background, output appended to file $1; the pid (of
# the command itself: `ip netns exec` execs it) is in E2E_LAST_PID and remembered for cleanup.
e2e_ns_spawn() {
    local out="$1"
    shift
    ip netns exec "$E2E_NS" "$@" >> "$out" 2>&1 < /dev/null &
    E2E_LAST_PID=$!
    E2E_PIDS+=("$E2E_LAST_PID")
}

# Prints "kvm" when KVM can boot this kernel, else "tcg". On a PVM host /dev/kvm exists but
# QEMU aborts or the kernel hangs (docs/pi-boot.md, "Machine"), so the probe boots the real kernel with no
# root and waits (bounded) for its panic. The answer is cached per host boot.
e2e_accel() {
    local cache="$1" kernel="$2" boot_id answer out
    case "${ROOTFARM_E2E_ACCEL:-auto}" in kvm|tcg) echo "$ROOTFARM_E2E_ACCEL"; return ;; esac
    boot_id="$(cat /proc/sys/kernel/random/boot_id)"
    if [ -f "$cache/kvm-probe" ] && [ "$(head -n1 "$cache/kvm-probe")" = "$boot_id" ]; then
        tail -n1 "$cache/kvm-probe"
        return
    fi
    answer=tcg
    if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
        out="$(mktemp)"
        timeout 40 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -display none \
            -no-reboot -serial "file:$out" -kernel "$kernel" \
            -append "console=ttyS0 panic=-1 root=/dev/nonexistent" > /dev/null 2>&1
        grep -q "Kernel panic" "$out" && answer=kvm
        rm -f "$out"
    fi
    printf '%s\n%s\n' "$boot_id" "$answer" > "$cache/kvm-probe"
    echo "$answer"
}

# Boots a VM from the network inside the namespace: iPXE from the NIC's option ROM (Debian's
# ipxe-qemu), console on ttyS0 into file $2, control port ttyS1 on the fifo pair $3.in/$3.out.
# With $5 = "interactive" the console is a fifo pair too ($2.in for typing into it) and its
# output is also copied to stdout. Sets E2E_VM_PID.
e2e_boot_vm() {
    local mac="$1" console="$2" ctl="$3" accel="$4" cpu con_dev
    rm -f "$ctl.in" "$ctl.out"
    mkfifo "$ctl.in" "$ctl.out"
    : > "$console"
    con_dev="file,id=con,path=$console"
    if [ "${5:-}" = interactive ]; then
        rm -f "$console.in" "$console.out"
        mkfifo "$console.in" "$console.out"
        con_dev="pipe,id=con,path=$console"
        # QEMU opens the fifos read-write, so this reader ends when QEMU does.
        tee -a "$console" < "$console.out" &
        E2E_PIDS+=("$!")
    fi
    cpu=max
    [ "$accel" = kvm ] && cpu=host
    e2e_ns_spawn "$console.qemu" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp 2 -m 1024 \
        -nodefaults -no-user-config -display none -vga none -no-reboot \
        -boot order=n -device sga \
        -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
        -device virtio-net-pci,netdev=n0,mac="$mac" \
        -chardev "$con_dev" -serial chardev:con \
        -chardev pipe,id=ctl,path="$ctl" -serial chardev:ctl
    E2E_VM_PID=$E2E_LAST_PID
}

# Console lines after which a boot cannot go on (the BIOS gave up on every device, the kernel
# panicked).
E2E_DEAD_END="No bootable device|Kernel panic - not syncing"

# Waits up to $3 seconds until file $1 has a line matching the extended regex $2. Returns 0 when
# found, 1 on timeout, 2 when process $4 (optional) ended first, 3 at a dead end.
e2e_wait_for() {
    local file="$1" regex="$2" limit="$3" pid="${4:-}" deadline
    deadline=$(($(date +%s) + limit))
    [ "$deadline" -gt "$E2E_DEADLINE" ] && deadline=$E2E_DEADLINE
    while [ "$(date +%s)" -lt "$deadline" ]; do
        grep -aEq "$regex" "$file" 2>/dev/null && return 0
        # A boot that cannot get further: stop waiting at once.
        grep -aEq "$E2E_DEAD_END" "$file" 2>/dev/null && return 3
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            grep -aEq "$regex" "$file" 2>/dev/null && return 0
            return 2
        fi
        sleep 0.5
    done
    return 1
}

# Waits up to $2 seconds for process $1 to end.
e2e_wait_pid() {
    local pid="$1" limit="$2"
    for _ in $(seq 1 $((limit * 5))); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.2
    done
    return 1
}

# Sends a line to the VM's control port (ttyS1), bounded.
e2e_send_ctl() {
    timeout 10 sh -c "echo '$2' > '$1.in'"
}

# The furthest boot stage console file $1 shows, to say which protocol step failed.
e2e_diagnose() {
    local c="$1" plain stage="nothing on the console (QEMU did not start? see $1.qemu)"
    plain="$(tr -d '\r' < "$c" | sed 's/\x1b\[[0-9;]*[a-zA-Z]//g')"
    has() { grep -aEq "$1" <<< "$plain"; }
    has "iPXE" && stage="iPXE started; no DHCP lease (DISCOVER/OFFER/REQUEST/ACK)"
    has "net0: [0-9.]+/" && stage="iPXE got a DHCP lease; TFTP of the boot script failed"
    has "loading the kernel over TFTP" &&
        stage="the iPXE script ran; TFTP of vmlinuz or initrd.img failed"
    local tftp_fail
    tftp_fail="$(grep -aoE 'tftp://[^ ]+\.\.\..*(timed out|not found|denied|rror)[^(]*' \
        <<< "$plain" | head -n1 |
        sed -E 's/[[:space:][:cntrl:]]*[0-9]+%//g; s/[[:space:][:cntrl:]]+/ /g')"
    [ -n "$tftp_fail" ] && stage="iPXE TFTP failed: $tftp_fail"
    has "Linux version" && stage="the kernel started; the initramfs got no lease (udhcpc)"
    has "ROOTFARM-E2E: NET-UP" &&
        stage="the initramfs has an address; the NFS mount failed (PORTMAP GETPORT, MOUNT MNT,"
    has "ROOTFARM-E2E: NET-UP" && stage="$stage NFS FSINFO/GETATTR)"
    has "ROOTFARM-E2E: ROOT-MOUNTED" &&
        stage="the NFS root is mounted; init did not reach the self-test"
    has "ROOTFARM-E2E: START" && stage="the self-test started; it did not finish"
    has "ROOTFARM-E2E: FAIL" &&
        stage="the self-test failed: $(grep -a 'ROOTFARM-E2E: FAIL' <<< "$plain" | head -n1)"
    e2e_log "--- furthest stage on $c: $stage"
    e2e_log "--- console tail:"
    tail -n 40 <<< "$plain" >&2
}

# Builds the small package the self-test installs with `dpkg -i` into directory $1 (gzip
# members: busybox's dpkg cannot read xz).
e2e_build_package() {
    local out="$1" pkg
    pkg="$(mktemp -d)"
    # The tree's top is the package's "./", which dpkg applies to the client's "/": mktemp's 0700
    # would lock every user but root out of the whole root from then on.
    chmod 0755 "$pkg"
    mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin"
    cat > "$pkg/DEBIAN/control" <<CONTROL
Package: rootfarm-e2e-hello
Version: 1.0
Architecture: all
Maintainer: rootfarm e2e <e2e@localhost>
Description: package built by the rootfarm end-to-end test
CONTROL
    printf '#!/bin/sh\necho "hello from a package"\n' > "$pkg/usr/bin/rootfarm-e2e-hello"
    chmod 0755 "$pkg/usr/bin/rootfarm-e2e-hello"
    mkdir -p "$out"
    dpkg-deb -Zgzip --root-owner-group --build "$pkg" "$out/rootfarm-e2e-hello_1.0_all.deb" \
        > /dev/null
    rm -rf "$pkg"
}

# Writes the iPXE script and copies the kernel and initramfs into boot directory $1. $2: the NFS
# path to mount; $3...: extra kernel parameters. ${next-server} is iPXE's siaddr from the DHCP
# answer, so the script names no address.
e2e_write_boot() {
    local boot="$1" nfspath="$2" cache
    shift 2
    cache="$(bash "$E2E_HERE/prepare.sh" --print-cache)"
    mkdir -p "$boot"
    install -m 0644 "$cache/out/vmlinuz" "$boot/vmlinuz"
    install -m 0644 "$cache/out/initrd.img" "$boot/initrd.img"
    local args="console=ttyS0,115200 panic=5 rootfarm.root=\${next-server}:$nfspath $*"
    cat > "$boot/boot.ipxe" <<IPXE
#!ipxe
echo rootfarm e2e: loading the kernel over TFTP from \${next-server}
kernel tftp://\${next-server}/vmlinuz $args
initrd tftp://\${next-server}/initrd.img
boot
IPXE
}

# --- rootfarm -------------------------------------------------------------------------------
# Set by the caller: E2E_ROOTFARM (the binary). Set here: E2E_STATE, E2E_CONFIG, E2E_SERVE_LOG.

# Writes the rootfarm configuration: DHCP server mode on br0, TFTP on 69, NFS on 2049, MOUNT on
# 20048, portmap answered by rootfarm itself on 111 (no rpcbind), both test MACs with static
# addresses. $1: log level; $2 (optional): `[nfs] trace` file, every NFS call in the bench's
# trace format (bench/trace.h).
e2e_write_config() {
    local trace_line=""
    [ -n "${2:-}" ] && trace_line="trace = \"$2\""
    E2E_STATE="$E2E_WORK/state"
    E2E_CONFIG="$E2E_WORK/rootfarm.toml"
    mkdir -p "$E2E_STATE"
    cat > "$E2E_CONFIG" <<TOML
state_dir = "$E2E_STATE"
server_ip = "$E2E_SERVER_IP"

[log]
level = "$1"

[nfs]
port = 2049
mount_port = 20048
portmap = "builtin"
portmap_port = 111
$trace_line

[tftp]
port = 69

[dhcp]
enabled = true
interface = "br0"
mode = "server"
range_start = "$E2E_SUBNET_PREFIX.100"
range_end = "$E2E_SUBNET_PREFIX.150"
netmask = "255.255.255.0"
boot_file = "boot.ipxe"

[defaults]
image = "e2e"

[[client]]
mac = "$E2E_MAC1"
ip = "$E2E_SUBNET_PREFIX.11"
hostname = "e2e-one"

[[client]]
mac = "$E2E_MAC2"
ip = "$E2E_SUBNET_PREFIX.12"
hostname = "e2e-two"
TOML
}

# Creates image "e2e" from the cached root of variant $2 (cache $1); $3...: kernel parameters.
# The tree is staged the way a Raspberry Pi OS root looks (boot partition under /boot/firmware)
# and imported with `rootfarm image import`; while that command is not available the same tree
# is placed as <state>/images/e2e/{root,boot}, which the store serves as it is (README "State
# directory").
e2e_stage_image() {
    local cache="$1" variant="$2" src stage
    shift 2
    src="$cache/roots/busybox"
    [ "$variant" = debootstrap ] && src="$cache/roots/debootstrap-${ROOTFARM_E2E_SUITE:-bookworm}"
    stage="$E2E_WORK/stage"
    # The layout `rootfarm image import` takes for a directory: root/ and boot/ side by side,
    # as the two partitions of an SD card. The store mounts boot/ at /boot/firmware.
    mkdir -p "$stage/root"
    # A shared lock: prepare.sh (exclusive) must not rebuild the tree while it is copied.
    (
        flock -s -w 1800 9 || exit 1
        cp -a --reflink=auto "$src/." "$stage/root/"
    ) 9> "$cache/.lock" || { e2e_log "FAILED: cannot copy $src"; return 1; }
    rm -f "$stage/root/.e2e-ready" "$stage/root/.debootstrap-done"
    # /etc/hosts as Raspberry Pi OS ships it: rootfarm names each client in its 127.0.1.1 line.
    [ -e "$stage/root/etc/hosts" ] || printf '%s\n' "127.0.0.1	localhost" \
        "::1		localhost ip6-localhost ip6-loopback" "" "127.0.1.1	rootfarm-e2e" \
        > "$stage/root/etc/hosts"
    e2e_build_package "$stage/root/e2e/pkg"
    # Conformance suites built by conformance.sh, for rootfarm.e2e.workload=suite.
    if [ -n "${ROOTFARM_E2E_CONFORMANCE:-}" ]; then
        cp -a "$ROOTFARM_E2E_CONFORMANCE" "$stage/root/e2e/suite"
    fi
    rm -rf "$stage/root/boot/firmware"
    mkdir -p "$stage/root/boot/firmware"
    e2e_write_boot "$stage/boot" / "$@"
    if "$E2E_ROOTFARM" --config "$E2E_CONFIG" image import "$stage" e2e \
        > "$E2E_WORK/import.log" 2>&1; then
        e2e_log "image imported with rootfarm image import"
        rm -rf "$stage"
    else
        e2e_log "FAILED: rootfarm image import: $(tail -n1 "$E2E_WORK/import.log")"
        return 1
    fi
}

E2E_SERVE_PID=""
E2E_SERVE_STARTS=0
# Starts `rootfarm serve` inside the namespace and waits (bounded) until it says it serves.
e2e_start_server() {
    E2E_SERVE_LOG="$E2E_WORK/serve.log"
    E2E_SERVE_STARTS=$((E2E_SERVE_STARTS + 1))
    echo "=== e2e: start #$E2E_SERVE_STARTS of rootfarm serve at $(date -u +%T)" >> "$E2E_SERVE_LOG"
    e2e_ns_spawn "$E2E_SERVE_LOG" "$E2E_ROOTFARM" --config "$E2E_CONFIG" serve
    E2E_SERVE_PID=$E2E_LAST_PID
    local deadline=$(($(date +%s) + 30))
    while [ "$(grep -c 'rootfarm serving' "$E2E_SERVE_LOG")" -lt "$E2E_SERVE_STARTS" ]; do
        if ! kill -0 "$E2E_SERVE_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            e2e_log "FAILED: rootfarm serve did not start; its log:"
            tail -n 30 "$E2E_SERVE_LOG" >&2
            exit 1
        fi
        sleep 0.2
    done
}

# Stops it with SIGTERM (SIGKILL after 30 s).
e2e_stop_server() {
    kill -TERM "$E2E_SERVE_PID" 2>/dev/null || true
    if ! e2e_wait_pid "$E2E_SERVE_PID" 30; then
        e2e_log "rootfarm serve ignored SIGTERM for 30 s; killing it"
        kill -KILL "$E2E_SERVE_PID" 2>/dev/null
        wait "$E2E_SERVE_PID" 2>/dev/null || true
    fi
}

# kill -9 and start again; $1 says when, for the logs.
e2e_kill9_restart() {
    local t
    t=$(date +%s)
    kill -KILL "$E2E_SERVE_PID"
    wait "$E2E_SERVE_PID" 2>/dev/null || true
    echo "=== e2e: kill -9 of rootfarm serve ($1)" >> "$E2E_SERVE_LOG"
    e2e_start_server
    e2e_log "server killed with -9 and restarted ($1) in $(($(date +%s) - t)) s"
}

# Writes trace file $2 from the raw `[nfs] trace` output $1 of one boot, under a header that
# says how it was recorded: $3 the console log (for the kernel's version), $4 the command, $5
# the variant, $6 the accelerator. rootfarm-bench reads the header as comments (bench/trace.h).
e2e_write_trace() {
    local raw="$1" out="$2" console="$3" command="$4" variant="$5" accel="$6" kernel calls
    kernel="$(grep -aom1 'Linux version [^(]*([^)]*)' "$console" | tr -d '\r' || true)"
    calls="$(grep -vc '^#' "$raw" || true)"
    {
        echo "# rootfarm-bench NFS trace v2"
        echo "# RECORDED from a real kernel boot by rootfarm's [nfs] trace (nfsd/trace.h)."
        if [ "$variant" = debootstrap ]; then
            echo "# root: Debian ${ROOTFARM_E2E_SUITE:-bookworm}, debootstrap --variant=minbase" \
                "+ systemd-sysv udev kmod procps"
            echo "#   (tests/e2e/prepare.sh); systemd to multi-user.target, then poweroff"
        else
            echo "# root: busybox (tests/e2e/prepare.sh)"
        fi
        echo "# command (as root): $command"
        echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "# kernel: ${kernel:-unknown}"
        echo "#   in QEMU ($accel), NFSv3 over TCP mounted by the e2e initramfs"
        echo "# calls: $calls; $(grep -v '^#' "$raw" | grep -c ' =' || true) expect a status" \
            "other than OK; $(grep -c '^# unresolved' "$raw" || true) not replayable (comments)"
        echo "# calls per procedure:"
        grep -v '^#' "$raw" | awk '{print $1}' | sort | uniq -c | sort -rn |
            awk '{printf "#   %s %d\n", $2, $1}'
        cat "$raw"
    } > "$out"
}
