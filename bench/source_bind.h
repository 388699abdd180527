#pragma once

#include "core/net.h"

namespace rootfarm::bench {

// libnfs has no call to choose a connection's source address, yet each simulated Pi must reach
// the NFS server from its own address (the server tells clients apart by it). While a thread
// has a source set, this binary's own bind()/connect() — which libnfs's calls resolve to —
// put that thread's new IPv4 sockets on it. 0.0.0.0 = off.
void set_thread_source(Ipv4 addr);
// The current thread's source, network byte order (for the interposers).
uint32_t thread_source();

}  // namespace rootfarm::bench
