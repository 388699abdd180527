// Text files of a downloaded image that the server rewrites: the boot partition's cmdline.txt
// (tftpd/cmdline.h, served to every Pi) and the root's /etc/fstab (images/fixups.h, its SD card
// mounts taken out at import).
//
// Input: byte 0 even: the rest is a cmdline.txt; odd: an fstab.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/net.h"
#include "fuzz/fuzz_util.h"
#include "images/fixups.h"
#include "tftpd/cmdline.h"

using namespace rootfarm;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] % 2 == 0) {
        const std::string line = tftpd::generate_cmdline(text, *Ipv4::parse("10.42.0.1"), 32768);
        // Whatever the image had, the line served mounts the root over NFS, on one line.
        if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1) {
            std::abort();
        }
        if (!tftpd::mounts_nfs_root(line)) std::abort();
        (void)tftpd::mounts_nfs_root(text);
    } else {
        std::vector<std::string> removed;
        const std::string kept = images::strip_sd_card_mounts(text, removed);
        // Lines are dropped, never changed: what is left plus what was removed is the input.
        size_t removed_bytes = 0;
        for (const std::string& line : removed) removed_bytes += line.size();
        if (kept.size() + removed_bytes > text.size() || kept.size() > text.size()) std::abort();
        // And once is enough: nothing left is an SD card mount.
        std::vector<std::string> again;
        if (images::strip_sd_card_mounts(kept, again) != kept || !again.empty()) std::abort();
    }
    return 0;
}
