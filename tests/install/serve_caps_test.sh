#!/usr/bin/env bash
# `rootfarm serve` as rootfarm.service runs it: an unprivileged uid whose only capability is
# CAP_NET_BIND_SERVICE (ambient, and the whole bounding set), no new privileges, serving DHCP
# (bound to its interface), TFTP, portmap and NFS on the standard ports 67, 69, 111 and 2049.
# Real clients check each: busybox udhcpc, curl over TFTP, rpcinfo, libnfs's nfs-ls.
#
# Everything happens in two network namespaces this script creates (a veth pair between them,
# 10.78.0.0/24, no route out) and always deletes; the standard ports are free there. Needs
# root for the namespaces; exits 77 (skipped) without it. Every wait is bounded.
#
#   serve_caps_test.sh --build DIR
#
# The server is the one `cmake --install DIR` installs; its image comes from `rootfarm image
# import` run as the same uid, as the README tells an operator to.
set -euo pipefail

build=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        *) echo "serve_caps_test.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$build" ] || { echo "usage: serve_caps_test.sh --build DIR" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root for network namespaces"
    exit 77
fi
for tool in setpriv busybox curl rpcinfo nfs-ls ip timeout; do
    command -v "$tool" > /dev/null || { echo "FAIL: $tool not installed (scripts/install-deps.sh)" >&2; exit 1; }
done

uid=65534
mac=52:54:00:78:00:40
srv_ip=10.78.0.1
pi_ip=10.78.0.40
id="$$x$RANDOM"
srv_ns="rfcaps-s$id"
cli_ns="rfcaps-c$id"
srv_if="rfs$((RANDOM % 10000))"
cli_if="rfc$((RANDOM % 10000))"
tmp=""
server_pid=""

log() { echo "serve_caps_test [$(date -u +%H:%M:%S)] $*" >&2; }

cleanup() {
    local status=$?
    set +e
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2> /dev/null
        timeout 15 tail --pid="$server_pid" -f /dev/null
        kill -KILL "$server_pid" 2> /dev/null
    fi
    for ns in "$srv_ns" "$cli_ns"; do
        # Anything still running in a namespace of ours was started by this script.
        for pid in $(ip netns pids "$ns" 2> /dev/null); do kill -KILL "$pid" 2> /dev/null; done
        ip netns del "$ns" 2> /dev/null
    done
    if [ $status -ne 0 ] && [ -n "$tmp" ] && [ -f "$tmp/serve.log" ]; then
        echo "--- rootfarm serve log ---" >&2
        tail -n 60 "$tmp/serve.log" >&2
    fi
    [ -n "$tmp" ] && rm -rf "$tmp"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { echo "FAIL: $*" >&2; exit 1; }

tmp="$(mktemp -d /tmp/rootfarm-caps-test.XXXXXX)"
chmod 0755 "$tmp"
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install"; }
rootfarm="$tmp/prefix/bin/rootfarm"

# As the package's postinst makes /var/lib/rootfarm: owned by the service's uid, mode 0750.
state="$tmp/state"
install -d -o "$uid" -g "$uid" -m 0750 "$state"
mkdir -p "$tmp/src/root/etc" "$tmp/src/boot"
echo "golden root" > "$tmp/src/root/etc/motd"
echo "start4 for the caps test" > "$tmp/src/boot/start4.elf"
chmod -R a+rX "$tmp/src"

cat > "$tmp/rootfarm.toml" << EOF
state_dir = "$state"
server_ip = "$srv_ip"
[log]
level = "debug"
[nfs]
portmap = "builtin"
threads = 1
[dhcp]
enabled = true
mode = "server"
interface = "$srv_if"
range_start = "10.78.0.100"
range_end = "10.78.0.120"
[[client]]
mac = "$mac"
ip = "$pi_ip"
EOF
chmod 0644 "$tmp/rootfarm.toml"

# The unit's privileges: User=/Group=, AmbientCapabilities= and CapabilityBoundingSet=
# CAP_NET_BIND_SERVICE, NoNewPrivileges=yes. (setpriv's capability lists are comma-separated.)
# shellcheck disable=SC2054
as_service=(setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs
    --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service
    --bounding-set=-all,+net_bind_service)
as_nobody=(setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs
    --inh-caps=-all --bounding-set=-all)

log "image import as uid $uid"
timeout 60 "${as_service[@]}" "$rootfarm" --config "$tmp/rootfarm.toml" image import \
    "$tmp/src" default > "$tmp/import.log" 2>&1 ||
    { cat "$tmp/import.log" >&2; fail "image import as uid $uid"; }

ip netns add "$srv_ns"
ip netns add "$cli_ns"
ip link add "$srv_if" netns "$srv_ns" type veth peer name "$cli_if" netns "$cli_ns"
ip -n "$srv_ns" addr add "$srv_ip/24" dev "$srv_if"
ip -n "$srv_ns" link set lo up
ip -n "$srv_ns" link set "$srv_if" up
ip -n "$cli_ns" link set lo up
ip -n "$cli_ns" link set "$cli_if" address "$mac"
ip -n "$cli_ns" link set "$cli_if" up

# Starts the server in the server namespace with the privileges in "$@"; its pid (`ip netns
# exec` and setpriv both exec) in server_pid. Waits up to 20 s for "rootfarm serving" or exit.
start_server() {
    : > "$tmp/serve.log"
    ip netns exec "$srv_ns" "$@" "$rootfarm" --config "$tmp/rootfarm.toml" serve \
        >> "$tmp/serve.log" 2>&1 < /dev/null &
    server_pid=$!
    for _ in $(seq 1 200); do
        grep -q "rootfarm serving" "$tmp/serve.log" && return 0
        kill -0 "$server_pid" 2> /dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Without the capability the standard ports are refused: the test below is not vacuous.
log "serve as uid $uid without capabilities: must fail"
if start_server "${as_nobody[@]}"; then
    fail "rootfarm serve started on ports below 1024 with no capability"
fi
timeout 15 tail --pid="$server_pid" -f /dev/null || fail "rootfarm serve without capabilities did not exit"
server_pid=""
grep -q "Permission denied" "$tmp/serve.log" || fail "no 'Permission denied' in the log"

log "serve as uid $uid with CAP_NET_BIND_SERVICE"
start_server "${as_service[@]}" || fail "rootfarm serve did not start"

# What the kernel says the process holds: uid, and exactly CAP_NET_BIND_SERVICE (bit 10).
status_file="/proc/$server_pid/status"
grep -qE "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid\$" "$status_file" || fail "not running as uid $uid: $(grep Uid "$status_file")"
for set in CapEff CapPrm CapAmb CapBnd; do
    grep -qE "^$set:\s+0000000000000400\$" "$status_file" ||
        fail "$set is not CAP_NET_BIND_SERVICE alone: $(grep "^$set" "$status_file")"
done
grep -qE "^NoNewPrivs:\s+1\$" "$status_file" || fail "NoNewPrivs is not set"

in_cli() { ip netns exec "$cli_ns" "$@"; }

log "DHCP: busybox udhcpc on $cli_if ($mac)"
cat > "$tmp/udhcpc.sh" << 'EOF'
#!/bin/sh
[ "$1" = bound ] && env > "$OUT"
exit 0
EOF
chmod 0755 "$tmp/udhcpc.sh"
timeout 30 ip netns exec "$cli_ns" env OUT="$tmp/udhcpc.env" busybox udhcpc -f -q -n \
    -i "$cli_if" -s "$tmp/udhcpc.sh" -t 5 -T 1 -A 1 > "$tmp/udhcpc.log" 2>&1 ||
    { cat "$tmp/udhcpc.log" >&2; fail "udhcpc got no lease"; }
grep -qx "ip=$pi_ip" "$tmp/udhcpc.env" || fail "udhcpc: expected ip=$pi_ip, got: $(cat "$tmp/udhcpc.env")"
grep -qx "serverid=$srv_ip" "$tmp/udhcpc.env" || fail "udhcpc: server id is not $srv_ip"
# Without CAP_NET_ADMIN the ARP entry for a unicast reply cannot be added: broadcast instead.
grep -q "cannot add ARP entry" "$tmp/serve.log" ||
    log "note: the server did not need the broadcast fallback (the client asked for broadcast)"
in_cli ip addr add "$pi_ip/24" dev "$cli_if"

log "TFTP: curl tftp://$srv_ip/start4.elf"
timeout 30 ip netns exec "$cli_ns" curl -sS --max-time 20 -o "$tmp/start4.elf" \
    "tftp://$srv_ip/start4.elf" || fail "curl over TFTP"
cmp -s "$tmp/start4.elf" "$tmp/src/boot/start4.elf" || fail "TFTP served different bytes"

log "portmap: rpcinfo -p $srv_ip"
timeout 30 ip netns exec "$cli_ns" rpcinfo -p "$srv_ip" > "$tmp/rpcinfo.txt" 2>&1 ||
    { cat "$tmp/rpcinfo.txt" >&2; fail "rpcinfo -p"; }
grep -qE "^\s+100000\s+2\s+tcp\s+111\s" "$tmp/rpcinfo.txt" || fail "portmap not on 111: $(cat "$tmp/rpcinfo.txt")"
grep -qE "^\s+100003\s+3\s+tcp\s+2049\s" "$tmp/rpcinfo.txt" || fail "NFS v3 not on 2049: $(cat "$tmp/rpcinfo.txt")"
grep -qE "^\s+100005\s+3\s+tcp\s" "$tmp/rpcinfo.txt" || fail "MOUNT v3 not registered: $(cat "$tmp/rpcinfo.txt")"

log "NFS: nfs-ls nfs://$srv_ip/etc"
timeout 30 ip netns exec "$cli_ns" nfs-ls "nfs://$srv_ip/etc" > "$tmp/nfs-ls.txt" 2>&1 ||
    { cat "$tmp/nfs-ls.txt" >&2; fail "nfs-ls"; }
grep -q "motd" "$tmp/nfs-ls.txt" || fail "nfs-ls does not list the image's /etc/motd: $(cat "$tmp/nfs-ls.txt")"

# What it wrote belongs to the service's uid: the state directory stays its own.
others="$(find "$state" ! -uid "$uid" | head -n 5)"
[ -z "$others" ] || fail "files in the state directory not owned by uid $uid: $others"

log "SIGTERM"
kill -TERM "$server_pid"
timeout 15 tail --pid="$server_pid" -f /dev/null || fail "rootfarm serve did not stop within 15 s"
wait "$server_pid" && rc=0 || rc=$?
server_pid=""
[ "$rc" -eq 0 ] || fail "rootfarm serve exited with status $rc"
grep -q "$mac $pi_ip " "$state/leases" || fail "the lease was not flushed to $state/leases"
echo "PASS"
