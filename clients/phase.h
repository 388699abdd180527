#pragma once

// Where a Pi is in its boot, as the three services see it.

#include <cstdint>
#include <string_view>

namespace rootfarm {

// In the order a boot goes through them. kIdle and kOff are not reported by any service: they
// are what a mounted Pi becomes when it stops talking (Clients::phase_of).
enum class BootPhase : uint8_t {
    kUnknown,        // not seen since the server started
    kDhcpDiscover,   // its boot ROM asked for an address
    kDhcpOffered,    // we offered one (a Pi 3 ROM goes on from here without a REQUEST)
    kDhcpAcked,      // we acknowledged it
    kTftpFirmware,   // it is fetching its boot files (bootcode.bin, start*.elf, config.txt…)
    kKernelFetched,  // the kernel was sent whole
    kNfsMounted,     // its kernel mounted its root (MNT)
    kUp,             // NFS calls after the mount
    kIdle,           // mounted, but no NFS call for [defaults] idle_after seconds
    kOff,            // unmounted (UMNT) and not booting
};
std::string_view to_string(BootPhase phase);

// What a service saw, reported to Clients::record.
enum class BootEvent : uint8_t {
    kDhcpDiscover,     // a DISCOVER
    kDhcpRomDiscover,  // a DISCOVER from a PXE boot ROM: the Pi is (re)booting
    kDhcpOffer,
    kDhcpAck,
    kTftpFirstFile,  // one of the first files of a boot (bootcode.bin, start*.elf…) is sent
    kTftpFile,       // another boot file is being sent
    kTftpKernel,     // a kernel was sent whole
    kMount,          // MNT answered with a handle
    kUnmount,        // UMNT or UMNTALL
    kNfsCall,        // any other NFS call
};

}  // namespace rootfarm
