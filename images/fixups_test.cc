#include "images/fixups.h"

#include <gtest/gtest.h>

namespace rootfarm::images {
namespace {

// /etc/fstab as Raspberry Pi OS bookworm ships it.
constexpr std::string_view kPiFstab =
    "proc            /proc           proc    defaults          0       0\nPARTUUID=1234abcd-01  "
    "/boot/firmware  vfat    defaults          0       2\nPARTUUID=1234abcd-02  /               "
    "ext4    defaults,noatime  0       1\n# a swapfile is not a swap partition, no line "
    "here\nLABEL=data      /srv/data       ext4    defaults          0       2\n";

TEST(Fixups, FstabLosesOnlySdCardRootAndBoot) {
    std::vector<std::string> removed;
    std::string out = strip_sd_card_mounts(kPiFstab, removed);
    EXPECT_EQ(out,
              "proc            /proc           proc    defaults          0       0\n# a swapfile "
              "is not a swap partition, no line here\nLABEL=data      /srv/data       ext4    "
              "defaults          0       2\n");
    ASSERT_EQ(removed.size(), 2u);
    EXPECT_EQ(removed[0],
              "PARTUUID=1234abcd-01  /boot/firmware  vfat    defaults          0       2");
}

TEST(Fixups, OlderImagesWithDeviceNamesAndBoot) {
    std::vector<std::string> removed;
    std::string out = strip_sd_card_mounts(
        "/dev/mmcblk0p1  /boot  vfat  defaults  0  "
        "2\n/dev/mmcblk0p2\t/\text4\tdefaults,noatime\t0\t1\ntmpfs /tmp tmpfs defaults 0 0",
        removed);
    EXPECT_EQ(out, "tmpfs /tmp tmpfs defaults 0 0");
    EXPECT_EQ(removed.size(), 2u);
}

TEST(Fixups, CommentedLinesStay) {
    std::vector<std::string> removed;
    std::string text = "#PARTUUID=1-02 / ext4 defaults 0 1\n";
    EXPECT_EQ(strip_sd_card_mounts(text, removed), text);
    EXPECT_TRUE(removed.empty());
}

TEST(Fixups, DescribesCapabilities) {
    // `setcap cap_net_raw+ep` writes VFS_CAP_REVISION_2 with the effective flag, bit 13.
    std::string v2(
        "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
    EXPECT_EQ(describe_capability(v2), "cap_net_raw=ep");
    // cap_net_bind_service,cap_net_admin+p: bits 10 and 12, no effective flag.
    std::string p(
        "\x00\x00\x00\x02\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
    EXPECT_EQ(describe_capability(p), "cap_net_bind_service,cap_net_admin=p");
    EXPECT_EQ(describe_capability("\x01\x02"), "?");
}

}  // namespace
}  // namespace rootfarm::images
