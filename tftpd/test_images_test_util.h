#pragma once

// The store images the TFTP integration tests serve, built as hand-made directory trees.

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/net.h"
#include "store/store.h"
#include "tftpd/raw_client_test_util.h"

namespace rootfarm::tftpd::testing {

namespace fs = std::filesystem;

inline const MacAddr kMacA = *MacAddr::parse("b8:27:eb:00:00:0a");  // serial 1a2b3c4d
inline const MacAddr kMacB = *MacAddr::parse("dc:a6:32:00:00:0b");  // serial 10000000cafef00d
inline constexpr const char* kImageConfig = "arm_64bit=1\nenable_uart=1\n";
inline constexpr const char* kOtherConfig = "# other image\n";
inline constexpr const char* kConfigOfA = "# client A's own configuration\narm_64bit=1\n";
inline constexpr uint64_t kBigSize = 70'000'000;
inline constexpr uint64_t kBigMidOffset = 65535ULL * 512 - 1000;  // across block 65535

inline void write_file(const fs::path& p, std::string_view content) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary).write(content.data(), content.size());
}

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct TestImages {
    std::string kernel, start4;
    std::string big_head, big_mid, big_tail;
    // The 70 MB file as it must arrive: zeros but for its three pieces of data.
    std::string big() const {
        std::string b(kBigSize, '\0');
        b.replace(0, big_head.size(), big_head);
        b.replace(kBigMidOffset, big_mid.size(), big_mid);
        b.replace(kBigSize - big_tail.size(), big_tail.size(), big_tail);
        return b;
    }
};

// <state>/images/default: the image of unknown clients and of client A, with boot files, links
// that stay inside the boot tree and links that lead out of it, and a sparse 70 MB file.
// <state>/images/other: client B's, with its own config.txt and no cmdline.txt.
inline TestImages make_test_images(const fs::path& state) {
    TestImages t;
    const fs::path boot = state / "images/default/boot";
    const fs::path root = state / "images/default/root";
    fs::create_directories(root / "boot/firmware");
    write_file(root / "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    t.kernel = random_bytes(2'500'000, 11);
    t.start4 = random_bytes(2'228'224, 12);  // an exact multiple of 512 and 1024
    write_file(boot / "kernel8.img", t.kernel);
    write_file(boot / "start4.elf", t.start4);
    write_file(boot / "config.txt", kImageConfig);
    write_file(boot / "cmdline.txt",
               "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
               "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n");
    write_file(boot / "overlays/vc4-kms-v3d.dtbo", random_bytes(3000, 13));
    fs::create_symlink("../../etc/passwd", boot / "escape");
    fs::create_symlink("/etc/passwd", boot / "abs-escape");
    fs::create_symlink("/boot/firmware/config.txt", boot / "abs-inside");
    fs::create_symlink("overlays/vc4-kms-v3d.dtbo", boot / "rel-inside");
    t.big_head = random_bytes(100'000, 14);
    t.big_mid = random_bytes(4096, 15);
    t.big_tail = random_bytes(5000, 16);
    int fd = ::open((boot / "big.bin").c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!::pwrite(fd, t.big_head.data(), t.big_head.size(), 0);
        (void)!::pwrite(fd, t.big_mid.data(), t.big_mid.size(), kBigMidOffset);
        (void)!::pwrite(fd, t.big_tail.data(), t.big_tail.size(), kBigSize - t.big_tail.size());
        ::close(fd);
    }
    fs::create_directories(state / "images/other/root/boot/firmware");
    write_file(state / "images/other/boot/config.txt", kOtherConfig);
    return t;
}

// Client A changes its config.txt through its own view of the store, as it would over NFS.
// Returns an empty string on success, else what failed.
inline std::string write_config_of_a(store::Store& store) {
    auto view = store.view(kMacA, "default");
    if (!view) return "view: " + view.error().message();
    auto id = (*view)->lookup((*view)->boot_root(), "config.txt");
    if (!id) return "lookup: " + id.error().message();
    auto w = (*view)->begin_write(*id);
    if (!w) return "begin_write: " + w.error().message();
    const std::string mine = kConfigOfA;
    if (::pwrite(w->file->fd(), mine.data(), mine.size(), 0) != static_cast<ssize_t>(mine.size())) {
        return "pwrite failed";
    }
    auto done = (*view)->end_write(*id, 0, mine.size(), true);
    if (!done) return "end_write: " + done.error().message();
    return "";
}

}  // namespace rootfarm::tftpd::testing
