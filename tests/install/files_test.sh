#!/usr/bin/env bash
# What `cmake --install` puts in place, checked as an operator and systemd would see it. Fast, no
# root, no network; part of the default run.
#
#   files_test.sh --build DIR --source DIR --version X.Y.Z CHECK
#
#   unit     `systemd-analyze verify` of the installed rootfarm.service (it must point at the
#            installed binary and configuration and find both man pages), its hardening
#            (`systemd-analyze security` exposure), and the settings the package relies on
#   man      both man pages render without a warning (man-db and groff), carry the project's
#            version, and name every command of README "Commands" and every key of README
#            "Configuration reference"
#   config   the installed rootfarm.toml is valid as `rootfarm` reads it, keeps DHCP off, and
#            keeps its state in /var/lib/rootfarm
set -euo pipefail

build="" source="" version="" check=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        --source) source="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        unit | man | config) check="$1"; shift ;;
        *) echo "files_test.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$build" ] && [ -n "$source" ] && [ -n "$version" ] && [ -n "$check" ] ||
    { echo "usage: files_test.sh --build DIR --source DIR --version X.Y.Z unit|man|config" >&2; exit 2; }

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

tmp="$(mktemp -d /tmp/rootfarm-files-test.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
# A prefix install (not DESTDIR): the unit's ExecStart and --config name files that exist.
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; echo "FAIL: cmake --install" >&2; exit 1; }
unit="$prefix/lib/systemd/system/rootfarm.service"
for f in "$prefix/bin/rootfarm" "$unit" "$prefix/etc/rootfarm/rootfarm.toml" \
    "$prefix/share/man/man8/rootfarm.8.gz" "$prefix/share/man/man5/rootfarm.toml.5.gz" \
    "$prefix/share/doc/rootfarm/copyright" "$prefix/share/doc/rootfarm/changelog.gz"; do
    [ -f "$f" ] || fail "not installed: ${f#"$prefix"/}"
done

case "$check" in
unit)
    # verify runs `man` for each Documentation= page: MANPATH makes it find the installed ones.
    out="$(MANPATH="$prefix/share/man" systemd-analyze verify "$unit" 2>&1)" ||
        fail "systemd-analyze verify exited non-zero"
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
    grep -qx "ExecStart=$prefix/bin/rootfarm --config $prefix/etc/rootfarm/rootfarm.toml serve" \
        "$unit" || fail "ExecStart does not name the installed binary and configuration"
    for line in Type=notify User=rootfarm Group=rootfarm \
        'ExecReload=/bin/kill -HUP $MAINPID' \
        AmbientCapabilities=CAP_NET_BIND_SERVICE CapabilityBoundingSet=CAP_NET_BIND_SERVICE \
        NoNewPrivileges=yes ProtectSystem=strict ReadWritePaths=/var/lib/rootfarm \
        PrivateTmp=yes 'RestrictAddressFamilies=AF_INET AF_UNIX AF_NETLINK'; do
        grep -qxF "$line" "$unit" || fail "rootfarm.service lacks $line"
    done
    # The DHCP socket needs neither (see the unit's comments); a grant would widen what a
    # compromised server can do on the LAN.
    grep -E '^(Ambient|CapabilityBounding).*CAP_NET_(RAW|ADMIN)' "$unit" &&
        fail "rootfarm.service grants CAP_NET_RAW or CAP_NET_ADMIN"
    # An unhardened edit shows up here: 1.9 as written ("OK"); 9.6 is a unit with no hardening.
    sec="$(systemd-analyze security --offline=yes "$unit" 2>&1)" || true
    exposure="$(sed -n 's/.*Overall exposure level for rootfarm.service: \([0-9.]*\).*/\1/p' <<< "$sec")"
    if [ -z "$exposure" ]; then
        fail "systemd-analyze security printed no exposure level: $sec"
    elif ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }'; then
        fail "exposure level $exposure is above 2.5: $sec"
    fi
    echo "systemd-analyze verify: clean; exposure level ${exposure:-?}"
    ;;
man)
    for page in "$source/packaging/rootfarm.8" "$source/packaging/rootfarm.toml.5"; do
        name="$(basename "$page")"
        warnings="$(MANWIDTH=80 man --warnings -l "$page" 2>&1 > /dev/null)" ||
            fail "man -l $name exited non-zero"
        [ -z "$warnings" ] || fail "man --warnings -l $name: $warnings"
        warnings="$(groff -man -ww -z "$page" 2>&1)" || fail "groff $name exited non-zero"
        [ -z "$warnings" ] || fail "groff -man -ww $name: $warnings"
        grep -q "^\.TH [^ ]* [0-9] [0-9-]* \"rootfarm $version\"" "$page" ||
            fail "$name: .TH does not say rootfarm $version (project(VERSION) changed?)"
    done
    # The installed (compressed) pages are the sources.
    zcat "$prefix/share/man/man8/rootfarm.8.gz" | cmp -s - "$source/packaging/rootfarm.8" ||
        fail "installed rootfarm.8.gz differs from packaging/rootfarm.8"
    MANWIDTH=200 man -l "$source/packaging/rootfarm.8" 2> /dev/null > "$tmp/rootfarm.8.txt"
    MANWIDTH=200 man -l "$source/packaging/rootfarm.toml.5" 2> /dev/null > "$tmp/rootfarm.toml.5.txt"

    # README "Commands": each `rootfarm [--config FILE] WORDS` line; the command words are what
    # comes before the first argument (upper case), option or comment.
    commands="$(awk '/^## Commands/ { on = 1; next } /^## / { on = 0 } on' "$source/README.md" |
        sed -n 's/^rootfarm \(\[--config FILE\] \)\{0,1\}//p' |
        awk '{ out = ""; for (i = 1; i <= NF; i++) { if ($i ~ /^[a-z]+$/) out = out " " $i; else break }
               if (out == "" && $1 ~ /^--/) out = " " $1; print substr(out, 2) }' | sort -u)"
    [ -n "$commands" ] || fail "no commands found in README.md"
    while read -r cmd; do
        [ -n "$cmd" ] || continue
        # As a COMMANDS entry (or an option) at the start of an indented line.
        grep -qE "^ {7}$cmd( |\$)" "$tmp/rootfarm.8.txt" || fail "rootfarm(8) does not describe '$cmd'"
    done <<< "$commands"

    # README "Configuration reference": `key` or `[section] key` or `[section] a` / `b`.
    keys="$(awk '/^## Configuration reference/ { on = 1; next } /^## / { on = 0 } on' \
        "$source/README.md" | sed -n 's/^| `\([^|]*\)` |.*/\1/p')"
    [ -n "$keys" ] || fail "no keys found in README.md"
    nkeys=0
    while read -r row; do
        section="$(sed -n 's/^\(\[\{1,2\}[a-z]*]\{1,2\}\) .*/\1/p' <<< "$row")"
        names="${row#"$section"}"
        for key in $(tr -d '`/' <<< "$names"); do
            nkeys=$((nkeys + 1))
            # The key's entry under its section's heading (top-level keys: before the first one).
            if [ -z "$section" ]; then
                body="$(awk '/^\[/ { exit } { print }' "$tmp/rootfarm.toml.5.txt")"
            else
                body="$(awk -v h="$section" '$0 == h { on = 1; next } /^[^ ]/ { on = 0 } on' \
                    "$tmp/rootfarm.toml.5.txt")"
            fi
            grep -qE "^ {7}([a-z_]+ / )*$key( |\$)" <<< "$body" ||
                fail "rootfarm.toml(5) does not describe ${section:+$section }$key"
        done
    done <<< "$keys"
    echo "man pages: $(wc -l <<< "$commands") commands, $nkeys keys checked"
    ;;
config)
    config="$prefix/etc/rootfarm/rootfarm.toml"
    # The file as shipped, but with its state in the test's directory: `client list` reads it
    # whole, so an unknown key or a bad value fails here with the config error's status, 2.
    mkdir -p "$tmp/state"
    sed "s|^state_dir = \"/var/lib/rootfarm\"\$|state_dir = \"$tmp/state\"|" "$config" > "$tmp/rootfarm.toml"
    cmp -s "$config" "$tmp/rootfarm.toml" && fail "rootfarm.toml has no state_dir = \"/var/lib/rootfarm\""
    if ! out="$("$prefix/bin/rootfarm" --config "$tmp/rootfarm.toml" client list 2>&1)"; then
        fail "rootfarm client list with the shipped configuration: $out"
    fi
    # DHCP off unless the operator turns it on: [dhcp] holds exactly one live key, enabled = false.
    dhcp="$(awk '/^\[/ { on = ($0 == "[dhcp]"); next } on && /^[a-z]/' "$config")"
    [ "$dhcp" = "enabled = false" ] || fail "[dhcp] must say only 'enabled = false', says: $dhcp"
    # `client add` appends to the file and reloads: the result must still load.
    "$prefix/bin/rootfarm" --config "$tmp/rootfarm.toml" client add dc:a6:32:01:02:03 \
        --serial 1a2b3c4d --image bookworm > "$tmp/add.log" 2>&1 ||
        fail "client add on the shipped configuration: $(cat "$tmp/add.log")"
    "$prefix/bin/rootfarm" --config "$tmp/rootfarm.toml" client list 2>&1 | grep -q dc:a6:32:01:02:03 ||
        fail "client list after client add does not show the Pi"
    echo "rootfarm.toml: valid, DHCP off"
    ;;
esac

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "PASS"
