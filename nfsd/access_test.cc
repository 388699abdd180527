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
    // NFS-NOTES 11: git and dpkg write a 0444 file they created.
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

}  // namespace
}  // namespace rootfarm::nfsd
