#!/usr/bin/env bash
# The Debian package as an operator gets it: `cpack -G DEB` in the build directory, then in a
# fresh Debian 12 root (debootstrap --variant=minbase, cached) `apt-get install ./rootfarm.deb`
# with its dependencies from Debian's mirror, `rootfarm --version` and `rootfarm doctor` there,
# the rootfarm user and /var/lib/rootfarm (owner, mode 0750), an image imported as that user,
# the configuration kept as a conffile across a reinstall, remove (state kept) and purge.
#
#   deb_test.sh --build DIR --version X.Y.Z
#
# Needs root (chroot, mounts) and, on the first run, Debian's mirror for debootstrap and the
# package's dependencies (cached in $ROOTFARM_E2E_CACHE/install, default
# /var/cache/rootfarm-e2e, as tests/e2e/prepare.sh does). Without root it exits 77 (skipped);
# without the mirror it fails with the reason. Every mount lives in a private mount namespace
# and the commands that need no mirror run in a private network namespace: nothing is left
# behind and no packet leaves but apt's.
set -euo pipefail

# shellcheck source=tests/install/lib.sh
. "$(dirname "$0")/lib.sh"
inst_setup "$@"
tmp="$INST_TMP"
root="$INST_ROOT"

# --- the package -------------------------------------------------------------------------------
inst_build_deb
deb="$INST_DEB"
field() { dpkg-deb -f "$deb" "$1"; }
check "Version is $version" test "$(field Version)" = "$version"
depends="$(field Depends)"
for dep in openssh-client adduser procps libsystemd0 liburing2 libtirpc3 libc6; do
    check "Depends names $dep ($depends)" grep -qE "(^|, )$dep( |,|\$)" <<< "$depends"
done
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' > "$tmp/contents"
for entry in "-rwxr-xr-x root/root ./usr/bin/rootfarm" \
    "-rw-r--r-- root/root ./usr/lib/systemd/system/rootfarm.service" \
    "-rw-r--r-- root/root ./etc/rootfarm/rootfarm.toml" \
    "-rw-r--r-- root/root ./usr/share/man/man8/rootfarm.8.gz" \
    "-rw-r--r-- root/root ./usr/share/man/man5/rootfarm.toml.5.gz" \
    "-rw-r--r-- root/root ./usr/share/doc/rootfarm/copyright" \
    "-rw-r--r-- root/root ./usr/share/doc/rootfarm/changelog.gz"; do
    check "package holds $entry" grep -qxF -- "$entry" "$tmp/contents"
done
dpkg-deb -x "$deb" "$tmp/extracted"
dpkg-deb -e "$deb" "$tmp/control"
copyright="$tmp/extracted/usr/share/doc/rootfarm/copyright"
check "copyright is DEP-5" grep -qx "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" "$copyright"
check "copyright says License: Apache-2.0" grep -qx "License: Apache-2.0" "$copyright"
check "copyright points at common-licenses" grep -q '"/usr/share/common-licenses/Apache-2.0"' "$copyright"
check "the configuration is a conffile" grep -qx /etc/rootfarm/rootfarm.toml "$tmp/control/conffiles"
check "the unit starts /usr/bin/rootfarm with /etc/rootfarm/rootfarm.toml" grep -qx \
    "ExecStart=/usr/bin/rootfarm --config /etc/rootfarm/rootfarm.toml serve" \
    "$tmp/extracted/usr/lib/systemd/system/rootfarm.service"
check "the binary is stripped" sh -c "! readelf -S '$tmp/extracted/usr/bin/rootfarm' | grep -q '[.]debug_info'"

# --- a fresh Debian root -----------------------------------------------------------------------
# shellcheck disable=SC2119 # no packages but ours
inst_root_with_package

# --- the installed package ---------------------------------------------------------------------
inst_log "checks in the installed root"
out="$(offline rootfarm --version 2>&1)" || true
check "rootfarm --version says $version (got: $out)" grep -qE "^$version( |\$)" <<< "$out"
passwd="$(in_root getent passwd rootfarm || true)"
IFS=: read -r _ _ ruid rgid _ rhome rshell <<< "$passwd"
check "rootfarm is a system user (got: $passwd)" test -n "$ruid" -a "${ruid:-1000}" -lt 1000
check "rootfarm's home is /var/lib/rootfarm" test "$rhome" = /var/lib/rootfarm
check "rootfarm has no login shell ($rshell)" test "$rshell" = /usr/sbin/nologin
check "group rootfarm is the user's group" test "$(in_root getent group rootfarm | cut -d: -f3)" = "$rgid"
check "/var/lib/rootfarm is rootfarm:rootfarm 750 (got: $(in_root stat -c '%U:%G %a' /var/lib/rootfarm))" \
    test "$(in_root stat -c '%U:%G %a' /var/lib/rootfarm)" = "rootfarm:rootfarm 750"
check "dpkg lists the conffile" sh -c "chroot '$root' dpkg-query -W -f='\${Conffiles}' rootfarm | grep -q ' /etc/rootfarm/rootfarm.toml '"

# An operator's first steps: an image imported as the service user, a Pi added as root.
mkdir -p "$root/tmp/img/root/etc" "$root/tmp/img/boot"
echo "golden" > "$root/tmp/img/root/etc/motd"
echo "start4" > "$root/tmp/img/boot/start4.elf"
chmod -R a+rX "$root/tmp/img"
check "image import as rootfarm" offline runuser -u rootfarm -- rootfarm image import /tmp/img default
check "client add as root" offline rootfarm client add dc:a6:32:01:02:03 --serial 1a2b3c4d
offline rootfarm doctor --dhcp-wait 0 > "$tmp/doctor.txt" 2>&1 && doctor_status=0 || doctor_status=$?
check "rootfarm doctor ran (status $doctor_status: $(cat "$tmp/doctor.txt"))" \
    test "$doctor_status" -le 1 -a -s "$tmp/doctor.txt"
check "doctor finds the state directory fine: $(grep state-dir "$tmp/doctor.txt")" \
    grep -qE "^ok +state-dir" "$tmp/doctor.txt"

# Reinstalling keeps the operator's configuration (the client added above) and the user.
in_root dpkg -i "/tmp/$(basename "$deb")" > "$tmp/reinstall.log" 2>&1 ||
    { cat "$tmp/reinstall.log" >&2; inst_die "dpkg -i again"; }
check "the configuration survives a reinstall" grep -q dc:a6:32:01:02:03 "$root/etc/rootfarm/rootfarm.toml"
check "one rootfarm user after a reinstall" test "$(grep -c '^rootfarm:' "$root/etc/passwd")" -eq 1

# Remove keeps state, user and configuration; purge drops the configuration and keeps a state
# directory that holds images.
in_root dpkg -r rootfarm > "$tmp/remove.log" 2>&1 || { cat "$tmp/remove.log" >&2; inst_die "dpkg -r"; }
check "remove drops the binary" test ! -e "$root/usr/bin/rootfarm"
check "remove keeps /var/lib/rootfarm" test -d "$root/var/lib/rootfarm/images/default"
check "remove keeps the configuration" test -f "$root/etc/rootfarm/rootfarm.toml"
check "remove keeps the user" grep -q "^rootfarm:" "$root/etc/passwd"
in_root dpkg -P rootfarm > "$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; inst_die "dpkg -P"; }
check "purge drops the configuration" test ! -e "$root/etc/rootfarm"
check "purge keeps a state directory with images" test -d "$root/var/lib/rootfarm/images/default"
check "purge says it kept the state" grep -q "/var/lib/rootfarm is not empty" "$tmp/purge.log"
# An empty state directory (nothing was ever served) goes with the purge.
rm -rf "$root/var/lib/rootfarm"
in_root dpkg -i "/tmp/$(basename "$deb")" > "$tmp/install2.log" 2>&1 || { cat "$tmp/install2.log" >&2; inst_die "dpkg -i after purge"; }
check "install after purge makes /var/lib/rootfarm again" test -d "$root/var/lib/rootfarm"
in_root dpkg -P rootfarm > "$tmp/purge2.log" 2>&1 || { cat "$tmp/purge2.log" >&2; inst_die "dpkg -P"; }
check "purge drops an empty state directory" test ! -e "$root/var/lib/rootfarm"

inst_finish
