#!/bin/sh
# The in-VM self-test: exercises the NFS root like a real system does and reports on stdout, which
# the caller points at the serial console. Every line the harness reads starts "ROOTFARM-E2E: ":
#   STATE pristine | STATE dirty <boots>   what this client's root looked like at start
#   RESTART-POINT      I/O is in flight and files are held open; the harness may now kill -9 and
#                      restart the server, then writes RESUME on the control port (ttyS1)
#   PASS | FAIL <what>
# Kernel parameters: rootfarm.e2e.size=MB (the big file, default 100),
# rootfarm.e2e.ctl=DEV (control port, default /dev/ttyS1; "none" = do not wait),
# rootfarm.e2e.workload=none (report the state and PASS at once: run.sh --trace records the NFS
# calls of a plain boot and shutdown, not of this test's workload).
# POSIX sh: runs under busybox ash (busybox root) and dash (Debian root).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

say() { echo "ROOTFARM-E2E: $*"; }
fail() {
    say "FAIL $*"
    exit 1
}
# Forces the next reads to come from the server, not from this kernel's page cache.
drop_caches() {
    sync
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
}

size_mb=100
ctl=/dev/ttyS1
workload=full
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        rootfarm.e2e.size=*) size_mb="${arg#rootfarm.e2e.size=}" ;;
        rootfarm.e2e.ctl=*) ctl="${arg#rootfarm.e2e.ctl=}" ;;
        rootfarm.e2e.workload=*) workload="${arg#rootfarm.e2e.workload=}" ;;
    esac
done
mac="$(cat /sys/class/net/*/address 2>/dev/null | grep -v '^00:00:00:00:00:00$' | head -n1)"
marker=/var/lib/rootfarm-e2e/boots

# --- what this client sees of its root ----------------------------------------------------
[ -f /e2e/delete-me ] && pristine_file=yes || pristine_file=no
if [ -f "$marker" ]; then
    say "STATE dirty $(tr '\n' ' ' < "$marker")delete-me=$pristine_file"
elif [ "$pristine_file" = yes ]; then
    say "STATE pristine"
else
    say "STATE dirty no-marker delete-me=no"
fi
say "START mac=$mac size=${size_mb}MB"
if [ "$workload" = none ]; then
    say "PASS"
    exit 0
fi

w=/root/e2e-work
rm -rf "$w" || fail "rm -rf of the previous work tree"
mkdir -p "$w" || fail "mkdir $w"
cd "$w" || fail "cd $w"

# create, append
echo hello > a || fail "create"
echo world >> a || fail "append"
[ "$(cat a)" = "$(printf 'hello\nworld')" ] || fail "append content: $(cat a)"

# rename over an existing name: the old target disappears atomically
echo new > b || fail "create b"
mv -f b a || fail "rename over"
[ ! -e b ] || fail "rename left the source"
[ "$(cat a)" = new ] || fail "rename over content: $(cat a)"

# unlink while open: the kernel silly-renames it (.nfsXXXX) and the data stays readable
echo "still here" > c || fail "create c"
exec 3< c
rm c || fail "unlink open file"
[ ! -e c ] || fail "unlinked file still visible"
[ "$(cat <&3)" = "still here" ] || fail "read of an unlinked open file"
exec 3<&-

# hard links
echo linked > h1 || fail "create h1"
ln h1 h2 || fail "link"
[ "$(stat -c %h h1)" = 2 ] || fail "nlink after link is $(stat -c %h h1)"
[ "$(stat -c %i h1)" = "$(stat -c %i h2)" ] || fail "hard links differ in inode"
echo more >> h2 || fail "append through a link"
rm h1 || fail "unlink one link"
drop_caches
[ "$(cat h2)" = "$(printf 'linked\nmore')" ] || fail "content through the other link"
[ "$(stat -c %h h2)" = 1 ] || fail "nlink after unlink is $(stat -c %h h2)"

# symlinks
ln -s h2 s || fail "symlink"
[ "$(readlink s)" = h2 ] || fail "readlink: $(readlink s)"
[ "$(cat s)" = "$(cat h2)" ] || fail "read through a symlink"
ln -s /does/not/exist dangling || fail "dangling symlink"
[ -L dangling ] && [ ! -e dangling ] || fail "dangling symlink resolves"

# chown then chmod (chown may clear set-id bits), checked from the server's attributes
echo x > p || fail "create p"
chown 1234:5678 p || fail "chown"
chmod 4751 p || fail "chmod"
drop_caches
[ "$(stat -c %u:%g p)" = 1234:5678 ] || fail "owner is $(stat -c %u:%g p)"
[ "$(stat -c %a p)" = 4751 ] || fail "mode is $(stat -c %a p)"

# special files: a FIFO that works, a character device node
mkfifo f || fail "mkfifo"
[ -p f ] || fail "not a fifo"
(echo ping > f) &
read -r got < f
wait
[ "$got" = ping ] || fail "fifo carried '$got'"
mknod null c 1 3 || fail "mknod"
[ -c null ] || fail "not a character device"
[ "$(stat -c %t:%T null)" = 1:3 ] || fail "device numbers $(stat -c %t:%T null)"

# directories: many entries listed back, nested mkdir/rmdir
mkdir -p d/e/f || fail "mkdir -p"
i=0
while [ $i -lt 300 ]; do
    : > "d/file-$i" || fail "create d/file-$i"
    i=$((i + 1))
done
drop_caches
[ "$(ls d | wc -l)" = 301 ] || fail "directory lists $(ls d | wc -l) entries, want 301"
rmdir d/e/f d/e || fail "rmdir"
rm d/file-1* || fail "rm glob"
[ "$(ls d | wc -l)" = 189 ] || fail "after rm: $(ls d | wc -l) entries, want 189"

# --- the server restart window ------------------------------------------------------------
# A file held open and unlinked, a cwd inside the tree and a big write in flight: each must
# carry on across a kill -9 and restart of the server (handles stay valid).
echo "held across the restart" > held || fail "create held"
exec 4< held
rm held || fail "unlink held"
(
    dd if=/dev/urandom of=big bs=1M count="$size_mb" 2>/dev/null || exit 1
    sha256sum big > big.sum || exit 1
) &
writer=$!
holder=""
if [ "$ctl" != none ]; then
    [ -c "$ctl" ] || fail "no control port $ctl"
    # The port is held open and set up before the restart point is announced: a serial port
    # nobody holds open drops what arrives. Only child processes open it: under systemd this
    # shell is a session leader without a terminal and would acquire the port as its
    # controlling tty, and timeout(1) (its own process group) would then stop on SIGTTIN.
    (exec sleep 600) < "$ctl" &
    holder=$!
    stty -F "$ctl" raw -echo 2>/dev/null
fi
say "RESTART-POINT"
if [ "$ctl" != none ]; then
    # dash has no `read -t`: the wait is bounded with timeout(1) instead.
    got="$(timeout 300 head -n1 < "$ctl" | tr -d '\r')"
    kill "$holder" 2>/dev/null
    [ "$got" = RESUME ] || fail "control port said '$got', want RESUME"
    say "RESUMED"
fi
wait "$writer" || fail "writing the ${size_mb} MB file"
[ "$(cat <&4)" = "held across the restart" ] || fail "unlinked open file after the restart"
exec 4<&-
drop_caches
[ "$(stat -c %s big)" = $((size_mb * 1024 * 1024)) ] || fail "big file size $(stat -c %s big)"
sha256sum -c big.sum > /dev/null 2>&1 || fail "checksum of the ${size_mb} MB file"
[ "$(pwd)" = "$w" ] && [ -f a ] || fail "cwd after the restart"

# --- a package installed with dpkg -i -----------------------------------------------------
deb="$(ls /e2e/pkg/*.deb 2>/dev/null | head -n1)"
if [ -n "$deb" ]; then
    dpkg -i "$deb" > /tmp/e2e-dpkg.log 2>&1 || fail "dpkg -i $deb: $(tail -n3 /tmp/e2e-dpkg.log)"
    [ "$(rootfarm-e2e-hello)" = "hello from a package" ] || fail "the installed program"
    # `dpkg -l` (busybox dpkg has no -s) lists it as installed ("ii").
    dpkg -l rootfarm-e2e-hello 2>/dev/null | grep -q '^ii  *rootfarm-e2e-hello' \
        || fail "dpkg -l does not list the package as installed"
    say "DPKG ok"
fi

# --- leave changes for `rootfarm client diff` and the pristine checks ---------------------
rm -f /e2e/delete-me || fail "remove /e2e/delete-me"
mkdir -p /var/lib/rootfarm-e2e || fail "mkdir marker dir"
echo "boot-by-$mac" >> "$marker" || fail "marker"
echo "changed by $mac" > /etc/rootfarm-e2e-changed || fail "change in /etc"
rm -f big big.sum || fail "rm big"
sync
drop_caches
[ -f "$marker" ] && [ ! -e /e2e/delete-me ] || fail "changes not visible after sync"
say "PASS"
exit 0
