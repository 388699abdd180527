# Sourced by bench/smoke_test.sh and bench/soak_test.sh: a real `rootfarm serve` on 127.0.0.1.
#
# rootfarm_workdir NAME: sets $work to a new directory /tmp/NAME.XXXXXX, removed (and the
#   server stopped) when the script exits.
# rootfarm_config WORK N: sets $base (ports base..base+4, from our pid in 20000-59999: a clash
#   fails the start, never another test) and writes WORK/rootfarm.toml, state in WORK/state,
#   with Pis 0..N-1 as `[[client]]`s numbered as rootfarm-bench's make_pi(i) and bench/compare
#   do: MAC dc:a6:32:b0:.., serial 5b<i>, address 127.1.0.1 + i.
# rootfarm_start ROOTFARM WORK: starts it (log in WORK/serve.log), sets $server to its pid and
#   waits (10 s at most) for its NFS port.
rootfarm_workdir() {
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    server=
    trap rootfarm_cleanup EXIT
}

rootfarm_cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}

rootfarm_config() {
    local work=$1 n=$2 i
    base=$((20000 + ($$ % 8000) * 5))
    {
        cat <<CFG
state_dir = "$work/state"
server_ip = "127.0.0.1"
[log]
level = "warn"
[nfs]
listen = "127.0.0.1"
port = $base
mount_port = $((base + 1))
portmap = "off"
[tftp]
listen = "127.0.0.1"
port = $((base + 2))
[dhcp]
enabled = true
listen = "127.0.0.1"
port = $((base + 3))
client_port = $((base + 4))
range_start = "127.2.0.1"
range_end = "127.2.0.200"
netmask = "255.0.0.0"
CFG
        for ((i = 0; i < n; i++)); do
            printf '[[client]]\nmac = "dc:a6:32:%02x:%02x:%02x"\nip = "127.1.%d.%d"\nserial = "%08x"\n' \
                $((0xb0 | (i >> 16 & 15))) $((i >> 8 & 255)) $((i & 255)) \
                $(((i + 1) >> 8)) $(((i + 1) & 255)) $((0x5b000000 | i))
        done
    } >"$work/rootfarm.toml"
}

rootfarm_start() {
    "$1" --config "$2/rootfarm.toml" serve 2>"$2/serve.log" &
    server=$!
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$base) 2>/dev/null && return 0
        sleep 0.1
    done
}
