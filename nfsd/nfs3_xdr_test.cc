#include "nfsd/nfs3_xdr.h"

#include <gtest/gtest.h>

namespace rootfarm::nfsd {
namespace {

TEST(Nfs3Xdr, Fattr3LayoutMatchesRfc1813) {
    store::Attr a;
    a.type = store::FileType::kDirectory;
    a.mode = 041755;  // type bits are never sent
    a.nlink = 3;
    a.uid = 1000;
    a.gid = 27;
    a.size = 0x100000001ull;
    a.used = 4096;
    a.rdev_major = 8;
    a.rdev_minor = 1;
    a.fsid = 0xabcdef;
    a.fileid = 42;
    a.atime = {1, 2};
    a.mtime = {3, 4};
    a.ctime = {5, 6};
    std::vector<uint8_t> out;
    XdrWriter w(out);
    write_fattr3(w, a);
    ASSERT_EQ(out.size(), kFattr3Bytes);
    XdrReader r(out);
    EXPECT_EQ(r.u32(), 2u);
    EXPECT_EQ(r.u32(), 01755u);
    EXPECT_EQ(r.u32(), 3u);
    EXPECT_EQ(r.u32(), 1000u);
    EXPECT_EQ(r.u32(), 27u);
    EXPECT_EQ(r.u64(), 0x100000001ull);
    EXPECT_EQ(r.u64(), 4096u);
    EXPECT_EQ(r.u32(), 8u);
    EXPECT_EQ(r.u32(), 1u);
    EXPECT_EQ(r.u64(), 0xabcdefu);
    EXPECT_EQ(r.u64(), 42u);
    for (uint32_t v = 1; v <= 6; ++v) EXPECT_EQ(r.u32(), v);
}

TEST(Nfs3Xdr, Sattr3DecodesEveryField) {
    const std::vector<uint8_t> bytes = {
        0, 0, 0, 1, 0, 0, 0x01, 0xed,                 // mode 0755
        0, 0, 0, 0,                                   // uid unset
        0, 0, 0, 1, 0, 0, 0,    27,                   // gid 27
        0, 0, 0, 1, 0, 0, 0,    0,    0, 0, 0x10, 0,  // size 4096
        0, 0, 0, 1,                                   // atime: server time
        0, 0, 0, 2, 0, 0, 0,    9,    0, 0, 0,    7,  // mtime: 9 s 7 ns
    };
    XdrReader r(bytes);
    store::SetAttrArgs a;
    ASSERT_TRUE(read_sattr3(r, a));
    EXPECT_EQ(a.mode, 0755u);
    EXPECT_FALSE(a.uid);
    EXPECT_EQ(a.gid, 27u);
    EXPECT_EQ(a.size, 4096u);
    EXPECT_EQ(a.atime_how, store::SetAttrArgs::TimeHow::kServerTime);
    EXPECT_EQ(a.mtime_how, store::SetAttrArgs::TimeHow::kClientTime);
    EXPECT_EQ(a.mtime, (store::Time{9, 7}));
    EXPECT_EQ(r.remaining(), 0u);
    // Every truncation fails cleanly.
    for (size_t n = 0; n < bytes.size(); ++n) {
        std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
        XdrReader rc(cut);
        store::SetAttrArgs ac;
        EXPECT_FALSE(read_sattr3(rc, ac)) << n;
    }
}

TEST(Nfs3Xdr, BadTimeHowIsGarbage) {
    const std::vector<uint8_t> bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0};
    XdrReader r(bytes);
    store::SetAttrArgs a;
    EXPECT_FALSE(read_sattr3(r, a));
}

TEST(Nfs3Xdr, LongNamesAreFlaggedNotRejected) {
    std::vector<uint8_t> bytes;
    XdrWriter w(bytes);
    w.string(std::string(300, 'x'));
    XdrReader r(bytes);
    NameArg n = read_name(r);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(n.too_long);
}

TEST(Nfs3Xdr, StoreErrnosMapToNfsStatus) {
    EXPECT_EQ(errno_to_nfs3(ESTALE), kNfs3ErrStale);
    EXPECT_EQ(errno_to_nfs3(EBADF), kNfs3ErrBadHandle);
    EXPECT_EQ(errno_to_nfs3(ECANCELED), kNfs3ErrNotSync);
    EXPECT_EQ(errno_to_nfs3(ENOTEMPTY), kNfs3ErrNotEmpty);
    EXPECT_EQ(errno_to_nfs3(EDQUOT), kNfs3ErrDQuot);
    EXPECT_EQ(errno_to_nfs3(EROFS), kNfs3ErrRoFs);
    EXPECT_EQ(errno_to_nfs3(ENOMEM), kNfs3ErrServerFault);
}

}  // namespace
}  // namespace rootfarm::nfsd
