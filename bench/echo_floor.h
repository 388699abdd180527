#pragma once

// The floor under every TCP call/reply benchmark on a machine: a server that does nothing but
// read a call of a fixed size and write a reply of a fixed size, one blocking thread per
// connection. With one call in flight per connection that is the least the kernel lets a server
// spend on a call: its thread sleeps in read(2), the call's arrival wakes it, and it writes the
// reply, with no event loop, no protocol and no file system behind it. bench/compare sets this
// server's CPU per round trip beside the NFS servers' CPU per GETATTR, so a ratio between two
// NFS servers can be read against what no server can go below.

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>

#include "core/net.h"
#include "core/result.h"

namespace rootfarm::bench {

// Default sizes, as seen on the wire: micro-nfs's GETATTR call (record mark, RPC header with
// AUTH_UNIX, rootfarm's 38-byte handle) and rootfarm's reply (record mark, accepted reply,
// status, fattr3: RFC 1813 §3.3.1) are 116 bytes each.
struct EchoSizes {
    size_t call = 116;
    size_t reply = 116;
};

// A listening TCP socket on addr:port (0: any free port).
Result<int> echo_listen(Ipv4 addr, uint16_t port);
// Accepts connections on `listen_fd` and serves each on a thread of its own, reading
// `sizes.call` bytes and writing `sizes.reply` until the client closes. Returns when accept
// fails (the socket was shut down or closed).
void echo_serve(int listen_fd, EchoSizes sizes);
// One client from `source`: call/reply round trips with `server` for `seconds`, one call in
// flight. Each wait is bounded (1 s); the count of round trips done.
Result<uint64_t> echo_micro(Ipv4 source, const sockaddr_in& server, EchoSizes sizes,
                            double seconds);

}  // namespace rootfarm::bench
