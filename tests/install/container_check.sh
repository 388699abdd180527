#!/bin/bash
# Runs inside the container systemd_test.sh boots (systemd as PID 1, the package installed,
# loopback only), as the unit rootfarm-install-check.service, which powers the container off
# when this ends. Starts rootfarm.service as an operator would after editing the shipped
# configuration, and checks what systemd and the kernel say about it while real clients use it.
# The last line says "RESULT: PASS" or "RESULT: FAIL".
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
failures=0
check() {
    local what="$1"
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        failures=$((failures + 1))
    fi
}
prop() { systemctl show -p "$1" --value rootfarm.service; }
mac1=02:00:00:00:00:01
mac2=02:00:00:00:00:02

# An image imported as the service user; it carries SSH host keys, so a boot start makes the
# Pi its own with ssh-keygen, under the unit's sandbox.
mkdir -p /srv/img/root/etc/ssh /srv/img/boot
echo "golden" > /srv/img/root/etc/motd
echo "image key" > /srv/img/root/etc/ssh/ssh_host_ed25519_key
echo "image key" > /srv/img/root/etc/ssh/ssh_host_ed25519_key.pub
echo "start4 for the systemd test" > /srv/img/boot/start4.elf
chmod -R a+rX /srv/img
check "image import as rootfarm" timeout 60 runuser -u rootfarm -- rootfarm image import /srv/img default

# The shipped configuration with DHCP turned on, bound to an interface (here the only one).
config=/etc/rootfarm/rootfarm.toml
sed -i -e 's/^#server_ip = .*/server_ip = "127.0.0.1"/' \
    -e 's/^enabled = false$/enabled = true\ninterface = "lo"\nrange_start = "127.0.0.100"\nrange_end = "127.0.0.120"/' \
    "$config"
check "client add $mac1 (no server running)" timeout 30 rootfarm client add "$mac1" --ip 127.0.0.1

check "systemctl start rootfarm" timeout 60 systemctl start rootfarm.service
check "active (Type=notify: READY=1 arrived)" test "$(prop ActiveState)" = active
check "status text 'serving 1 Pi' (got '$(prop StatusText)')" test "$(prop StatusText)" = "serving 1 Pi"

pid="$(prop MainPID)"
status="/proc/$pid/status"
uid="$(id -u rootfarm)"
check "runs as rootfarm ($(grep ^Uid "$status"))" grep -qE "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid\$" "$status"
for set in CapEff CapPrm CapAmb CapBnd; do
    check "$set is CAP_NET_BIND_SERVICE alone ($(grep "^$set" "$status"))" \
        grep -qE "^$set:\s+0000000000000400\$" "$status"
done
check "NoNewPrivs" grep -qE "^NoNewPrivs:\s+1\$" "$status"
check "seccomp filter (SystemCallFilter=)" grep -qE "^Seccomp:\s+2\$" "$status"

# rpcbind runs here, as on most Debian systems with NFS tools: the server registers with it
# ([nfs] portmap = "auto") from inside the sandbox.
check "registered with rpcbind" sh -c "timeout 30 rpcinfo -p 127.0.0.1 | grep -qE '100003 +3 +tcp +2049 '"
for port in 2049 20048; do
    check "TCP $port accepts" timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
done
check "DHCP bound to lo on 67" sh -c "grep -q ':0043 ' /proc/net/udp"
# A first boot file from the Pi's address: a boot starts, its identity files are written.
check "TFTP start4.elf" sh -c "timeout 30 curl -sS --max-time 20 tftp://127.0.0.1/start4.elf | grep -qx 'start4 for the systemd test'"
# Its root over NFS: the SSH host key the image carries is replaced by one ssh-keygen makes
# for this Pi, run by the server inside the unit's sandbox.
check "NFS: nfs-ls / lists etc" sh -c "timeout 30 nfs-ls nfs://127.0.0.1/ | grep -q ' etc\$'"
key="$(timeout 60 nfs-cat nfs://127.0.0.1/etc/ssh/ssh_host_ed25519_key.pub 2>&1)"
check "the Pi's own SSH host key (got: $key)" grep -qE "^ssh-ed25519 [A-Za-z0-9+/=]+ root@pi-00-00-01\$" <<< "$key"
journal="$(journalctl -u rootfarm.service --no-pager -o cat)"
absent() { ! grep -q "$1" <<< "$2"; }
check "no ssh-keygen failure in the sandbox" absent ssh-keygen "$journal"

# `client add` reloads the running server through its control socket; systemctl reload
# sends SIGHUP.
check "client add $mac2 (running server)" timeout 30 rootfarm client add "$mac2"
sleep 0.5
check "status text 'serving 2 Pis' after client add (got '$(prop StatusText)')" \
    test "$(prop StatusText)" = "serving 2 Pis"
check "systemctl reload rootfarm" timeout 30 systemctl reload rootfarm.service
check "active after reload" test "$(prop ActiveState)" = active
check "still the same process after reload" test "$(prop MainPID)" = "$pid"
check "rootfarm status" timeout 30 rootfarm status

check "systemctl stop rootfarm" timeout 60 systemctl stop rootfarm.service
check "stopped cleanly (Result=$(prop Result))" test "$(prop Result)" = success
others="$(find /var/lib/rootfarm ! -user rootfarm | head -n 5)"
check "everything in /var/lib/rootfarm belongs to rootfarm ($others)" test -z "$others"

echo "--- journalctl -u rootfarm.service"
journalctl -u rootfarm.service --no-pager
if [ "$failures" -eq 0 ]; then echo "RESULT: PASS"; else echo "RESULT: FAIL ($failures)"; fi
