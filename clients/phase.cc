#include "clients/phase.h"

namespace rootfarm {

std::string_view to_string(BootPhase phase) {
    switch (phase) {
        case BootPhase::kUnknown:
            return "unknown";
        case BootPhase::kDhcpDiscover:
            return "dhcp-discover";
        case BootPhase::kDhcpOffered:
            return "dhcp-offered";
        case BootPhase::kDhcpAcked:
            return "dhcp-acked";
        case BootPhase::kTftpFirmware:
            return "tftp-firmware";
        case BootPhase::kKernelFetched:
            return "kernel-fetched";
        case BootPhase::kNfsMounted:
            return "nfs-mounted";
        case BootPhase::kUp:
            return "up";
        case BootPhase::kIdle:
            return "idle";
        case BootPhase::kOff:
            return "off";
    }
    return "unknown";
}

}  // namespace rootfarm
