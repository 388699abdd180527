#!/usr/bin/env bash
# rootfarm.service under a real systemd: the package installed in a fresh Debian 12 root with
# systemd, booted with systemd-nspawn (loopback only, no packet leaves), where
# container_check.sh starts the unit and checks Type=notify (READY=1, STATUS=), the sandbox
# (uid, capabilities, seccomp), registration with rpcbind, TFTP, NFS and ssh-keygen under it,
# `systemctl reload` and a clean stop.
#
#   systemd_test.sh --build DIR --version X.Y.Z
#
# Needs root and systemd-nspawn (Debian package systemd-container); the cached root and
# packages are deb_test.sh's (lib.sh). Without root it exits 77 (skipped).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/install/lib.sh
. "$here/lib.sh"
inst_setup "$@"
command -v systemd-nspawn > /dev/null || inst_die "systemd-nspawn not installed (Debian package systemd-container)"

inst_build_deb
inst_root_with_package systemd systemd-sysv netbase curl libnfs-utils rpcbind

# The check runs once the container reaches multi-user.target and powers it off when done,
# whatever its outcome.
install -D -m 0755 "$here/container_check.sh" "$INST_ROOT/usr/local/sbin/rootfarm-install-check"
cat > "$INST_ROOT/etc/systemd/system/rootfarm-install-check.service" << 'UNIT'
[Unit]
Description=rootfarm install check (tests/install/container_check.sh)
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/rootfarm-install-check
StandardOutput=file:/rootfarm-install-check.log
StandardError=inherit
TimeoutStartSec=240

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/rootfarm-install-check.service \
    "$INST_ROOT/etc/systemd/system/multi-user.target.wants/rootfarm-install-check.service"
# nspawn mounts its own /proc; the package cache is not needed any more.
umount "$INST_ROOT/proc" "$INST_ROOT/var/cache/apt/archives"

inst_log "systemd-nspawn --boot"
timeout 300 systemd-nspawn -q --register=no --keep-unit --boot --private-network \
    -D "$INST_ROOT" -M "rootfarm-install-$$" > "$INST_TMP/nspawn.log" 2>&1 || true
result="$INST_ROOT/rootfarm-install-check.log"
if [ ! -s "$result" ]; then
    tail -n 40 "$INST_TMP/nspawn.log" >&2
    inst_die "the container wrote no result"
fi
cat "$result"
tail -n 1 "$result" | grep -qx "RESULT: PASS" || inst_die "checks in the container failed"
inst_finish
