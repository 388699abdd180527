#include "nfsd/access.h"

#include <gtest/gtest.h>

namespace rootfarm::nfsd {
namespace {

using store::Attr;
using store::FileType;

Attr file(uint32_t mode, uint32_t uid = 1000, uint32_t gid = 1000,
          FileType type = FileType::kRegular) {
    Attr a;
    a.type = type;
    a.mode = mode;
    a.uid = uid;
    a.gid = gid;
    return a;
}

Cred user(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
    Cred c;
    c.flavor = kAuthSys;
    c.uid = uid;
    c.gid = gid;
    for (uint32_t g : groups) c.groups[c.ngroups++] = g;
    return c;
}

TEST(Access, OwnerGroupOtherClasses) {
    Attr a = file(0640);
    EXPECT_TRUE(may_write(a, user(1000, 1000)));
    EXPECT_TRUE(may_read(a, user(2000, 1000)));
    EXPECT_FALSE(may_write(a, user(2000, 1000)));
    EXPECT_FALSE(may_read(a, user(2000, 2000)));
}

TEST(Access, SupplementaryGroupsCount) {
    Attr a = file(0060, 0, 27);
    EXPECT_TRUE(may_write(a, user(1000, 1000, {4, 27})));
    EXPECT_FALSE(may_write(a, user(1000, 1000, {4})));
}

TEST(Access, RootIsNotSquashedByDefault) {
    Attr a = file(0000, 1000, 1000);
    EXPECT_TRUE(may_write(a, squash(user(0, 0), false)));
    EXPECT_FALSE(may_write(a, squash(user(0, 0), true)));
    EXPECT_FALSE(may_exec(a, user(0, 0)));  // no x bit anywhere: not even root
    EXPECT_TRUE(may_exec(file(0100), user(0, 0)));
}

TEST(Access, OwnerMayWriteReadOnlyFileData) {
    // docs/pi-boot.md NFS 11: git and dpkg write a 0444 file they created.
    Attr a = file(0444);
    EXPECT_FALSE(may_write(a, user(1000, 1000)));
    EXPECT_TRUE(may_write_data(a, user(1000, 1000)));
    EXPECT_FALSE(may_write_data(a, user(1001, 1000)));
}

TEST(Access, AccessBitsForDirectoryAndFile) {
    Attr dir = file(0755, 1000, 1000, FileType::kDirectory);
    EXPECT_EQ(access_bits(dir, user(2000, 2000), 0x3f), kAccessRead | kAccessLookup);
    EXPECT_EQ(access_bits(dir, user(1000, 1000), 0x3f),
              kAccessRead | kAccessLookup | kAccessModify | kAccessExtend | kAccessDelete);
    Attr exe = file(0751);
    EXPECT_EQ(access_bits(exe, user(2000, 2000), 0x3f), kAccessExecute);
    EXPECT_EQ(access_bits(exe, user(1000, 1000), kAccessRead), kAccessRead);
}

TEST(Access, StickyDirectoryProtectsOthersFiles) {
    Attr tmp = file(01777, 0, 0, FileType::kDirectory);
    Attr mine = file(0644, 1000);
    EXPECT_TRUE(may_delete(tmp, mine, user(1000, 1000)));
    EXPECT_FALSE(may_delete(tmp, mine, user(1001, 1001)));
    EXPECT_TRUE(may_delete(tmp, mine, user(0, 0)));
}

TEST(Access, SetattrRules) {
    Attr a = file(0644, 1000, 1000);
    store::SetAttrArgs chmod;
    chmod.mode = 0600;
    EXPECT_EQ(setattr_permission(a, user(1000, 1000), chmod), 0);
    EXPECT_EQ(setattr_permission(a, user(1001, 1000), chmod), EPERM);
    store::SetAttrArgs chown;
    chown.uid = 1001;
    EXPECT_EQ(setattr_permission(a, user(1000, 1000), chown), EPERM);
    EXPECT_EQ(setattr_permission(a, user(0, 0), chown), 0);
    store::SetAttrArgs chgrp;
    chgrp.gid = 27;
    EXPECT_EQ(setattr_permission(a, user(1000, 1000, {27}), chgrp), 0);
    EXPECT_EQ(setattr_permission(a, user(1000, 1000), chgrp), EPERM);
    store::SetAttrArgs trunc;
    trunc.size = 0;
    EXPECT_EQ(setattr_permission(file(0444, 1000), user(1000, 1000), trunc), 0);
    EXPECT_EQ(setattr_permission(a, user(1001, 1001), trunc), EACCES);
    store::SetAttrArgs touch;
    touch.mtime_how = store::SetAttrArgs::TimeHow::kServerTime;
    EXPECT_EQ(setattr_permission(file(0666, 1000), user(1001, 1001), touch), 0);
    EXPECT_EQ(setattr_permission(a, user(1001, 1001), touch), EACCES);
}

TEST(Access, SetattrNoOpChownAndChgrpNeedOwnership) {
    // chown_ok() / chgrp_ok(): naming the current owner or group is no exemption.
    Attr a = file(0644, 65534, 65534);
    store::SetAttrArgs same;
    same.uid = 65534;
    same.gid = 65534;
    EXPECT_EQ(setattr_permission(a, user(65533, 65533), same), EPERM);
    EXPECT_EQ(setattr_permission(a, user(65534, 65534), same), 0);
    store::SetAttrArgs same_group;
    same_group.gid = 65534;
    EXPECT_EQ(setattr_permission(a, user(65533, 65534), same_group), EPERM);
    // The owner may keep a group it is not a member of.
    EXPECT_EQ(setattr_permission(a, user(65534, 100), same_group), 0);
}

TEST(Access, SetattrWriteAccessIsCheckedBeforeOwnership) {
    // nfsd_setattr's fh_verify runs before notify_change: EACCES wins over EPERM.
    store::SetAttrArgs trunc_chown;
    trunc_chown.size = 0;
    trunc_chown.uid = 1001;
    EXPECT_EQ(setattr_permission(file(0644), user(1001, 1001), trunc_chown), EACCES);
    EXPECT_EQ(setattr_permission(file(0666), user(1001, 1001), trunc_chown), EPERM);
    // An explicit time beside "now" asks ownership, not write access.
    store::SetAttrArgs mixed;
    mixed.atime_how = store::SetAttrArgs::TimeHow::kServerTime;
    mixed.mtime_how = store::SetAttrArgs::TimeHow::kClientTime;
    EXPECT_EQ(setattr_permission(file(0644), user(1001, 1001), mixed), EPERM);
    EXPECT_EQ(setattr_permission(file(0444), user(1000, 1000), mixed), 0);
}

TEST(Access, SetattrRootSquashedIsNobody) {
    Cred squashed = squash(user(0, 0, {0}), true);
    store::SetAttrArgs chown;
    chown.uid = 0;
    EXPECT_EQ(setattr_permission(file(0644, 1000), squashed, chown), EPERM);
    store::SetAttrArgs chmod;
    chmod.mode = 0777;
    EXPECT_EQ(setattr_permission(file(0644, 0, 0), squashed, chmod), EPERM);
    EXPECT_EQ(setattr_permission(file(0644, 0, 0), user(0, 0), chmod), 0);
}

uint32_t mode_after(const Attr& a, const Cred& c, store::SetAttrArgs args) {
    drop_setid_bits(a, c, args);
    return args.mode.value_or(a.mode);
}

TEST(Access, ChmodSetgidOutsideTheGroupIsDropped) {
    store::SetAttrArgs chmod;
    chmod.mode = 02755;
    EXPECT_EQ(mode_after(file(0755, 1000, 27), user(1000, 1000), chmod), 0755u);
    EXPECT_EQ(mode_after(file(0755, 1000, 27), user(1000, 1000, {27}), chmod), 02755u);
    EXPECT_EQ(mode_after(file(0755, 1000, 27), user(0, 0), chmod), 02755u);
    // Checked against the group the same call sets (no group-exec: a chgrp would drop that).
    chmod.mode = 02745;
    chmod.gid = 27;
    EXPECT_EQ(mode_after(file(0745, 1000, 1000), user(1000, 1000, {27}), chmod), 02745u);
    chmod.gid = 1000;
    EXPECT_EQ(mode_after(file(0745, 1000, 27), user(1000, 50, {27}), chmod), 0745u);
}

TEST(Access, ChownDropsSetIdBitsOfNonDirectories) {
    store::SetAttrArgs chown;
    chown.uid = 1000;
    // nfsd_sanitize_attrs: root's chown too.
    EXPECT_EQ(mode_after(file(06755, 0, 0), user(0, 0), chown), 0755u);
    // setattr_should_drop_sgid: setgid without group-exec stays for root and group members.
    EXPECT_EQ(mode_after(file(06644, 0, 0), user(0, 0), chown), 02644u);
    store::SetAttrArgs chgrp;
    chgrp.gid = 27;
    EXPECT_EQ(mode_after(file(02644, 1000, 1000), user(1000, 1000, {27}), chgrp), 02644u);
    // Outside the file's current group.
    EXPECT_EQ(mode_after(file(02644, 1000, 50), user(1000, 27), chgrp), 0644u);
    // With group-exec it is a real setgid: gone whoever asks.
    EXPECT_EQ(mode_after(file(02754, 0, 0), user(0, 0), chgrp), 0754u);
    // A mode in the same call loses setuid, and setgid if group-exec is set.
    chown.mode = 06755;
    EXPECT_EQ(mode_after(file(0644, 0, 0), user(0, 0), chown), 0755u);
    chown.mode = 06744;
    EXPECT_EQ(mode_after(file(0644, 0, 0), user(0, 0), chown), 02744u);
    // Directories keep theirs.
    store::SetAttrArgs dir_chown;
    dir_chown.uid = 1000;
    EXPECT_EQ(mode_after(file(02775, 0, 0, FileType::kDirectory), user(0, 0), dir_chown), 02775u);
    // Nothing to drop: the call stays without a mode.
    store::SetAttrArgs plain;
    plain.uid = 1000;
    drop_setid_bits(file(0644, 0, 0), user(0, 0), plain);
    EXPECT_FALSE(plain.mode);
}

TEST(Access, TruncateByNonOwnerDropsSetIdBits) {
    store::SetAttrArgs trunc;
    trunc.size = 0;
    EXPECT_EQ(mode_after(file(06777, 1000, 1000), user(1001, 1001), trunc), 0777u);
    EXPECT_EQ(mode_after(file(06777, 1000, 1000), user(1000, 1000), trunc), 06777u);
    EXPECT_EQ(mode_after(file(06777, 1000, 1000), user(0, 0), trunc), 06777u);
}

}  // namespace
}  // namespace rootfarm::nfsd
