#include "tftpd/cmdline.h"

#include <gtest/gtest.h>

namespace rootfarm::tftpd {
namespace {

const Ipv4 kServer{0x0a000001};  // 10.0.0.1

TEST(Cmdline, RaspberryPiOsBookwormLineBecomesNfsRoot) {
    std::string original =
        "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
        "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot splash "
        "plymouth.ignore-serial-consoles cfg80211.ieee80211_regdom=GB\n";
    EXPECT_EQ(generate_cmdline(original, kServer, 65536),
              "root=/dev/nfs nfsroot=10.0.0.1:/,vers=3,tcp,rsize=65536,wsize=65536 ip=dhcp rw "
              "rootwait console=serial0,115200 console=tty1 fsck.repair=yes quiet splash "
              "plymouth.ignore-serial-consoles cfg80211.ieee80211_regdom=GB\n");
}

TEST(Cmdline, EmptyOriginalGivesJustTheNfsSettings) {
    EXPECT_EQ(generate_cmdline("", kServer, 32768),
              "root=/dev/nfs nfsroot=10.0.0.1:/,vers=3,tcp,rsize=32768,wsize=32768 ip=dhcp rw "
              "rootwait\n");
}

TEST(Cmdline, OldResizeInitAndOldNfsSettingsAreReplaced) {
    std::string original =
        "ro root=/dev/mmcblk0p2 nfsroot=1.2.3.4:/srv/pi ip=10.0.0.9::10.0.0.1:255.255.255.0 "
        "init=/usr/lib/raspi-config/init_resize.sh rootwait";
    EXPECT_EQ(generate_cmdline(original, kServer, 4096),
              "root=/dev/nfs nfsroot=10.0.0.1:/,vers=3,tcp,rsize=4096,wsize=4096 ip=dhcp rw "
              "rootwait\n");
}

TEST(Cmdline, OperatorInitAndQuotedValuesAndInitArgumentsStay) {
    std::string original = "init=/sbin/myinit dyndbg=\"file x.c +p\" -- root=keep single";
    EXPECT_EQ(generate_cmdline(original, kServer, 8192),
              "root=/dev/nfs nfsroot=10.0.0.1:/,vers=3,tcp,rsize=8192,wsize=8192 ip=dhcp rw "
              "rootwait init=/sbin/myinit dyndbg=\"file x.c +p\" -- root=keep single\n");
}

TEST(Cmdline, OnlyTheFirstLineCountsAndCrLfIsTolerated) {
    EXPECT_EQ(generate_cmdline("quiet\r\nsecond line\n", kServer, 4096),
              "root=/dev/nfs nfsroot=10.0.0.1:/,vers=3,tcp,rsize=4096,wsize=4096 ip=dhcp rw "
              "rootwait quiet\n");
}

TEST(Cmdline, OnlyALineWithRootDevNfsAndNfsrootMountsOverNfs) {
    EXPECT_FALSE(mounts_nfs_root(
        "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
        "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot"));
    EXPECT_FALSE(mounts_nfs_root(""));
    EXPECT_FALSE(mounts_nfs_root("root=/dev/nfs ip=dhcp"));
    EXPECT_FALSE(mounts_nfs_root("nfsroot=10.0.0.1:/ ip=dhcp"));
    EXPECT_FALSE(mounts_nfs_root("root=/dev/nfs nfsroot= rw"));
    // The kernel takes the last root=.
    EXPECT_FALSE(mounts_nfs_root("root=/dev/nfs nfsroot=10.0.0.1:/ root=/dev/mmcblk0p2"));
    // After "--" the words are init's.
    EXPECT_FALSE(mounts_nfs_root("quiet -- root=/dev/nfs nfsroot=10.0.0.1:/"));
    // The firmware reads the first line only.
    EXPECT_FALSE(mounts_nfs_root("quiet\nroot=/dev/nfs nfsroot=10.0.0.1:/"));
    EXPECT_TRUE(mounts_nfs_root(
        "console=tty1 root=/dev/nfs nfsroot=10.9.9.9:/srv/pi,vers=3,tcp rw ip=dhcp rootwait\n"));
}

}  // namespace
}  // namespace rootfarm::tftpd
