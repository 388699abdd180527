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

}  // namespace
}  // namespace rootfarm::tftpd
