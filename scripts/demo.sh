#!/usr/bin/env bash
# `make demo-loopback`: generates a small demo image, starts `rootfarm serve` on 127.0.0.1 with
# unprivileged ports, and talks to it with real clients (curl's TFTP, libnfs's nfs-ls/nfs-cp/
# nfs-cat) as a Pi would: boot files over TFTP, the root over NFSv3, a write that lands in the
# Pi's own overlay. On a terminal it then keeps serving until Ctrl-C.
set -euo pipefail

build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
rootfarm="$top/$build/cli/rootfarm"
demo="$top/.demo"
state="$demo/state"
config="$demo/rootfarm.toml"
mac="dc:a6:32:de:40:01"
serial="de400001"
nfs_port=12049 mount_port=12050 portmap_port=12111 tftp_port=12069
url="nfs://127.0.0.1/?version=3&nfsport=$nfs_port&mountport=$mount_port"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$demo"
mkdir -p "$state/images/demo/root" "$state/images/demo/boot"

say "Generating a demo image in $state/images/demo (root/ + boot/)"
root="$state/images/demo/root"
boot="$state/images/demo/boot"
mkdir -p "$root"/{bin,etc,home/pi,usr/bin,tmp,boot/firmware,dev,proc,sys,var/log}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in sh ls cat echo mount; do ln -s busybox "$root/bin/$applet"; done
echo "raspberrypi" > "$root/etc/hostname"
printf 'proc  /proc  proc  defaults  0 0\nPARTUUID=4e639091-01  /boot/firmware  vfat  defaults  0 2\nPARTUUID=4e639091-02  /  ext4  defaults,noatime  0 1\n' > "$root/etc/fstab"
echo "Hello from the golden image" > "$root/home/pi/README"
chmod 1777 "$root/tmp"
echo "arm_64bit=1" > "$boot/config.txt"
echo "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait" > "$boot/cmdline.txt"
head -c 2M /dev/urandom > "$boot/start4.elf"
head -c 8M /dev/urandom > "$boot/kernel8.img"

cat > "$config" <<EOF
state_dir = "$state"
server_ip = "127.0.0.1"

[log]
level = "info"

[nfs]
listen = "127.0.0.1"
port = $nfs_port
mount_port = $mount_port
portmap_port = $portmap_port
portmap = "builtin"

[tftp]
listen = "127.0.0.1"
port = $tftp_port
rewrite_cmdline = true   # serve each Pi a cmdline.txt that mounts its root over NFS

[dhcp]
enabled = false   # needs a real interface; see "Netboot real Pis" in the README

[defaults]
image = "demo"

[[client]]
mac = "$mac"
ip = "127.0.0.1"
serial = "$serial"
hostname = "pi-demo"
EOF

say "Starting: rootfarm serve --config $config"
"$rootfarm" serve --config "$config" 2> "$demo/serve.log" &
server=$!
cleanup() { kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do
    if curl -s --max-time 2 -o /dev/null "tftp://127.0.0.1:$tftp_port/config.txt"; then break; fi
    kill -0 "$server" 2>/dev/null || { cat "$demo/serve.log"; exit 1; }
    sleep 0.1
done

say "TFTP: the Pi's generated cmdline.txt (root over NFS, rest of the image's line kept)"
curl -s --max-time 10 "tftp://127.0.0.1:$tftp_port/$serial/cmdline.txt"

say "TFTP: $serial/start4.elf and kernel8.img with blksize 1024, checked against the image"
for f in start4.elf kernel8.img; do
    curl -s --max-time 30 --tftp-blksize 1024 -o "$demo/$f" "tftp://127.0.0.1:$tftp_port/$serial/$f"
    if cmp -s "$demo/$f" "$boot/$f"; then echo "$f: $(stat -c %s "$demo/$f") bytes, identical"; else echo "$f: MISMATCH"; exit 1; fi
done

say "NFSv3 (libnfs nfs-ls): the Pi's root, with the boot partition at /boot/firmware"
nfs-ls "$url"
nfs-ls "nfs://127.0.0.1/boot/firmware?version=3&nfsport=$nfs_port&mountport=$mount_port"

say "NFSv3: the Pi writes /home/pi/hello.txt into its own overlay"
echo "written by the Pi at $(date)" > "$demo/hello.txt"
nfs-cp "$demo/hello.txt" "nfs://127.0.0.1/home/pi/hello.txt?version=3&nfsport=$nfs_port&mountport=$mount_port"
nfs-cat "nfs://127.0.0.1/home/pi/hello.txt?version=3&nfsport=$nfs_port&mountport=$mount_port"

say "Stopping the server (SIGTERM): it exits cleanly"
kill -TERM "$server"
wait "$server" && echo "rootfarm serve exited with status 0"
trap - EXIT

say "The golden image is untouched; the change lives in the Pi's overlay"
ls "$root/home/pi"
"$rootfarm" --config "$config" client diff "$mac"
"$rootfarm" --config "$config" client list

if [ -t 0 ]; then
    say "Serving again. Try:  nfs-ls '$url'   or   curl tftp://127.0.0.1:$tftp_port/config.txt"
    echo "Reset the Pi with: $rootfarm --config $config client reset $mac (server stopped)"
    echo "Press Ctrl-C to stop."
    exec "$rootfarm" --config "$config" serve
fi
