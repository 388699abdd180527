#include "tftpd/path.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace rootfarm::tftpd {
namespace {

TEST(RequestPathParse, PlainNamesAndLeadingSlash) {
    auto p = parse_request_path("/overlays//./vc4-kms-v3d.dtbo");
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->serial);
    EXPECT_FALSE(p->mac);
    EXPECT_EQ(p->components, (std::vector<std::string>{"overlays", "vc4-kms-v3d.dtbo"}));
    EXPECT_EQ(p->relative(), "overlays/vc4-kms-v3d.dtbo");
}

TEST(RequestPathParse, SerialPrefixEightOrSixteenDigitsAnyCase) {
    auto p = parse_request_path("1A2B3C4D/start4.elf");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->serial, "1a2b3c4d");
    EXPECT_EQ(p->relative(), "start4.elf");
    auto p16 = parse_request_path("10000000ABCDEF01/config.txt");
    ASSERT_TRUE(p16.ok());
    EXPECT_EQ(p16->serial, "10000000abcdef01");
    // Not a prefix: wrong length, not hex, or nothing after it.
    EXPECT_FALSE(parse_request_path("1a2b3c4/start4.elf")->serial);
    EXPECT_FALSE(parse_request_path("1a2b3c4g/start4.elf")->serial);
    EXPECT_FALSE(parse_request_path("1a2b3c4d")->serial);
}

TEST(RequestPathParse, MacPrefixWithDashes) {
    auto p = parse_request_path("DC-A6-32-01-02-03/overlays/x.dtbo");
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p->mac);
    EXPECT_EQ(p->mac->dashed(), "dc-a6-32-01-02-03");
    EXPECT_EQ(p->relative(), "overlays/x.dtbo");
    EXPECT_FALSE(parse_request_path("dc-a6-32-01-02-0z/x")->mac);
}

TEST(RequestPathParse, RefusesTraversalControlCharactersAndLongNames) {
    for (const char* bad :
         {"../etc/passwd", "/../x", "a/../../x", "1a2b3c4d/../x", "a/..", "..", "a\tb", "a\x7f"}) {
        EXPECT_EQ(parse_request_path(bad).error(), std::errc::permission_denied) << bad;
    }
    EXPECT_EQ(parse_request_path(std::string(256, 'a')).error(), std::errc::filename_too_long);
    EXPECT_TRUE(parse_request_path(std::string(255, 'a')).ok());
    // "..." is an ordinary name.
    EXPECT_TRUE(parse_request_path(".../x").ok());
}

TEST(RequestPathParse, NothingLeftIsNotAFile) {
    EXPECT_EQ(parse_request_path("/").error(), std::errc::no_such_file_or_directory);
    EXPECT_EQ(parse_request_path("./").error(), std::errc::no_such_file_or_directory);
}

namespace fs = std::filesystem;

// resolve_boot_file against a real store image.
class ResolveBootFile : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/tftpd-path-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        const fs::path boot = dir_ / "images/img/boot";
        const fs::path root = dir_ / "images/img/root";
        fs::create_directories(root / "boot/firmware");
        fs::create_directories(root / "etc");
        std::ofstream(root / "etc/shadow") << "secret\n";
        fs::create_directories(boot / "overlays");
        std::ofstream(boot / "config.txt") << "arm_64bit=1\n";
        std::ofstream(boot / "overlays/a.dtbo") << "dtbo";
        fs::create_symlink("overlays", boot / "ov");                // to a directory
        fs::create_symlink("../config.txt", boot / "overlays/up");  // up, still inside
        fs::create_symlink("/boot/firmware/overlays/a.dtbo", boot / "abs");
        fs::create_symlink("/boot/firmwarex/config.txt", boot / "abs-sibling");
        fs::create_symlink("../../etc/shadow", boot / "escape");
        fs::create_symlink("overlays/../../etc/shadow", boot / "escape2");
        fs::create_symlink("loop2", boot / "loop1");
        fs::create_symlink("loop1", boot / "loop2");
        ASSERT_EQ(::mkfifo((boot / "fifo").c_str(), 0644), 0);
        store::StoreOptions so;
        so.state_dir = dir_;
        auto st = store::Store::open(so);
        ASSERT_TRUE(st.ok()) << st.error().message();
        store_ = std::move(*st);
        auto view = store_->image_view("img");
        ASSERT_TRUE(view.ok()) << view.error().message();
        view_ = *view;
    }
    void TearDown() override {
        view_.reset();
        store_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    Result<store::ObjectId> resolve(std::string_view name) {
        auto p = parse_request_path(name);
        if (!p) return p.error();
        return resolve_boot_file(*view_, p->components, "/boot/firmware");
    }
    uint64_t size_of(std::string_view name) {
        auto id = resolve(name);
        if (!id) return ~0ull;
        return view_->getattr(*id)->size;
    }

    fs::path dir_;
    std::unique_ptr<store::Store> store_;
    std::shared_ptr<const store::ClientView> view_;
};

TEST_F(ResolveBootFile, FilesAndLinksInsideTheBootView) {
    EXPECT_EQ(size_of("config.txt"), 12u);
    EXPECT_EQ(size_of("/overlays/a.dtbo"), 4u);
    EXPECT_EQ(size_of("ov/a.dtbo"), 4u);
    EXPECT_EQ(size_of("overlays/up"), 12u);
    EXPECT_EQ(size_of("abs"), 4u);
}

TEST_F(ResolveBootFile, LinksLeavingTheBootViewAreRefused) {
    EXPECT_EQ(resolve("escape").error(), std::errc::permission_denied);
    EXPECT_EQ(resolve("escape2").error(), std::errc::permission_denied);
    EXPECT_EQ(resolve("abs-sibling").error(), std::errc::permission_denied);
}

TEST_F(ResolveBootFile, WhatIsNotARegularFile) {
    EXPECT_EQ(resolve("missing").error(), std::errc::no_such_file_or_directory);
    EXPECT_EQ(resolve("overlays").error(), std::errc::is_a_directory);
    EXPECT_EQ(resolve("ov").error(), std::errc::is_a_directory);
    EXPECT_EQ(resolve("config.txt/x").error(), std::errc::not_a_directory);
    EXPECT_EQ(resolve("loop1").error(), std::errc::too_many_symbolic_link_levels);
    EXPECT_EQ(resolve("fifo").error(), std::errc::permission_denied);
}

}  // namespace
}  // namespace rootfarm::tftpd
