#include "store/image_index.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/id_map.h"
#include "store/image_metadata.h"
#include "store/names.h"
#include "store/test_util.h"

namespace rootfarm::store {
namespace {

using testing::TempDir;
using testing::write_file;

class ImageIndexTest : public ::testing::Test {
  protected:
    void SetUp() override {
        image_ = dir_.path() / "images" / "pi";
        write_file(image_ / "root/etc/hostname", "pi\n");
        write_file(image_ / "root/usr/bin/sudo", "#!sudo", 04755);
        write_file(image_ / "root/usr/bin/ls", "ls-binary", 0755);
        ::symlink("usr/bin", (image_ / "root/bin").c_str());
        ::mkfifo((image_ / "root/etc/fifo").c_str(), 0600);
        ::link((image_ / "root/usr/bin/ls").c_str(), (image_ / "root/usr/bin/dir").c_str());
        std::filesystem::create_directories(image_ / "root/boot/firmware");
        write_file(image_ / "root/boot/firmware/hidden", "under the mount point");
        write_file(image_ / "boot/config.txt", "arm_64bit=1\n");
        write_file(image_ / "boot/overlays/a.dtbo", "dtbo");
    }

    std::shared_ptr<const ImageIndex> build(std::string mount = "/boot/firmware") {
        ImageOptions o;
        o.name = "pi";
        o.image_dir = image_;
        o.id_map_path = dir_.path() / "pi.ids";
        o.layers_dir = dir_.path() / "layers";
        o.boot_mount = mount;
        auto r = ImageIndex::build(o);
        EXPECT_TRUE(r.ok()) << r.error().message();
        return r.ok() ? *r : nullptr;
    }

    const ImageNode* at(const ImageIndex& index, std::string_view path) {
        const ImageNode* n = index.node(index.root());
        while (n && !path.empty()) {
            size_t slash = path.find('/');
            std::string_view part = path.substr(0, slash);
            path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
            if (!part.empty()) n = index.lookup(*n, part);
        }
        return n;
    }

    TempDir dir_;
    std::filesystem::path image_;
};

TEST_F(ImageIndexTest, IndexesEveryTypeWithItsAttributes) {
    auto index = build();
    ASSERT_TRUE(index);
    const ImageNode* sudo = at(*index, "/usr/bin/sudo");
    ASSERT_TRUE(sudo);
    EXPECT_EQ(sudo->type, FileType::kRegular);
    EXPECT_EQ(sudo->mode, 04755u);
    EXPECT_EQ(sudo->size, 6u);
    const ImageNode* bin = at(*index, "/bin");
    ASSERT_TRUE(bin);
    EXPECT_EQ(bin->type, FileType::kSymlink);
    EXPECT_EQ(index->symlink_target(*bin), "usr/bin");
    const ImageNode* fifo = at(*index, "/etc/fifo");
    ASSERT_TRUE(fifo);
    EXPECT_EQ(fifo->type, FileType::kFifo);
    struct stat st;
    ASSERT_EQ(::stat((image_ / "root/etc/hostname").c_str(), &st), 0);
    Attr a = index->attr(*at(*index, "/etc/hostname"));
    EXPECT_EQ(a.mtime.sec, st.st_mtim.tv_sec);
    EXPECT_EQ(a.mtime.nsec, static_cast<uint32_t>(st.st_mtim.tv_nsec));
    EXPECT_LT(a.fileid, 1ull << 32);
}

TEST_F(ImageIndexTest, HardLinksAreOneObject) {
    auto index = build();
    const ImageNode* ls = at(*index, "/usr/bin/ls");
    const ImageNode* dir = at(*index, "/usr/bin/dir");
    ASSERT_TRUE(ls && dir);
    EXPECT_EQ(ls->id, dir->id);
    EXPECT_EQ(ls->nlink, 2u);
}

TEST_F(ImageIndexTest, DirectoryLinkCountIsTwoPlusSubdirectories) {
    auto index = build();
    EXPECT_EQ(at(*index, "/usr")->nlink, 3u);      // bin
    EXPECT_EQ(at(*index, "/usr/bin")->nlink, 2u);  // no subdirectories
    EXPECT_EQ(at(*index, "/")->nlink, 2u + 3u);    // etc, usr, boot (bin is a symlink)
}

TEST_F(ImageIndexTest, BootTreeIsMountedOverTheRootsMountPoint) {
    auto index = build();
    const ImageNode* fw = at(*index, "/boot/firmware");
    ASSERT_TRUE(fw);
    EXPECT_EQ(fw->id, index->boot_root());
    EXPECT_TRUE(at(*index, "/boot/firmware/config.txt"));
    EXPECT_TRUE(at(*index, "/boot/firmware/overlays/a.dtbo"));
    EXPECT_FALSE(at(*index, "/boot/firmware/hidden"));
    EXPECT_EQ(index->parent(*fw).id, at(*index, "/boot")->id);
}

TEST_F(ImageIndexTest, MountPointDirectoriesAreMadeUpWhenMissing) {
    std::filesystem::remove_all(image_ / "root/boot");
    auto index = build("/boot/firmware");
    const ImageNode* boot = at(*index, "/boot");
    ASSERT_TRUE(boot);
    EXPECT_EQ(boot->type, FileType::kDirectory);
    EXPECT_EQ(boot->nlink, 3u);
    EXPECT_TRUE(at(*index, "/boot/firmware/config.txt"));
    // Older images mount it at /boot.
    auto old = build("/boot");
    EXPECT_TRUE(at(*old, "/boot/config.txt"));
    EXPECT_EQ(at(*old, "/boot")->id, old->boot_root());
}

TEST_F(ImageIndexTest, IdsAreStableAcrossRebuildsAndNewFilesGetNewOnes) {
    auto first = build();
    ObjectId hostname = at(*first, "/etc/hostname")->id;
    ObjectId config = at(*first, "/boot/firmware/config.txt")->id;
    write_file(image_ / "root/etc/aaa-new", "new");
    auto second = build();
    EXPECT_EQ(at(*second, "/etc/hostname")->id, hostname);
    EXPECT_EQ(at(*second, "/boot/firmware/config.txt")->id, config);
    ObjectId fresh = at(*second, "/etc/aaa-new")->id;
    EXPECT_EQ(first->node(fresh), nullptr);  // never anybody else's id
    EXPECT_EQ(second->generation(), first->generation());
}

TEST_F(ImageIndexTest, MetadataOverridesOwnersModesAndMakesDevices) {
    write_file(image_ / "root/dev/console", "");  // the importer's placeholder
    std::string meta;
    meta += format_metadata_line("root/usr/bin/sudo", {FileType::kRegular, 04711, 0, 0, 0, 0});
    meta += format_metadata_line("root/etc/hostname", {FileType::kRegular, 0640, 1000, 27, 0, 0});
    meta += format_metadata_line("root/dev/console", {FileType::kChar, 0600, 0, 5, 5, 1});
    meta += format_metadata_line("root/dev/null", {FileType::kChar, 0666, 0, 0, 1, 3});
    meta += format_metadata_line("root/etc/hostname/x", {FileType::kChar, 0666, 0, 0, 1, 3});
    meta += "garbage line\n";
    write_file(image_ / "metadata", meta);
    auto index = build();
    EXPECT_EQ(at(*index, "/usr/bin/sudo")->mode, 04711u);
    const ImageNode* host = at(*index, "/etc/hostname");
    EXPECT_EQ(host->uid, 1000u);
    EXPECT_EQ(host->gid, 27u);
    EXPECT_EQ(host->mode, 0640u);
    const ImageNode* console = at(*index, "/dev/console");
    ASSERT_TRUE(console);
    EXPECT_EQ(console->type, FileType::kChar);
    EXPECT_EQ(console->rdev_major, 5u);
    EXPECT_EQ(console->rdev_minor, 1u);
    const ImageNode* null = at(*index, "/dev/null");
    ASSERT_TRUE(null);
    EXPECT_EQ(null->type, FileType::kChar);
    EXPECT_EQ(null->rdev_minor, 3u);
    EXPECT_EQ(null->mode, 0666u);
}

TEST_F(ImageIndexTest, EntriesAreInCookieOrder) {
    for (int i = 0; i < 50; ++i) write_file(image_ / "root/many" / std::to_string(i), "");
    auto index = build();
    const ImageNode* many = at(*index, "/many");
    auto kids = index->children(*many);
    ASSERT_EQ(kids.size(), 50u);
    for (size_t i = 0; i < kids.size(); ++i) {
        EXPECT_EQ(kids[i].hash, name_hash(index->name_of(kids[i])));
        if (i > 0) {
            EXPECT_LT(kids[i - 1].hash, kids[i].hash);
        }
    }
}

std::string contents(const ImageIndex& index, const ImageNode& n) {
    auto f = index.open_file(n);
    EXPECT_TRUE(f.ok());
    if (!f.ok()) return {};
    std::string out(n.size, '\0');
    EXPECT_EQ(::pread((*f)->fd(), out.data(), out.size(), 0), static_cast<ssize_t>(n.size));
    return out;
}

TEST_F(ImageIndexTest, SiteLayersAddReplaceAndOverride) {
    auto site = dir_.path() / "layers/site";
    write_file(site / "root/etc/hostname", "from-the-layer\n");
    write_file(site / "root/etc/ssh/sshd_config", "PermitRootLogin no\n");
    write_file(site / "boot/ssh", "");
    write_file(site / "metadata",
               format_metadata_line("root/usr/bin/ls", {FileType::kRegular, 04755, 0, 0, 0, 0}));
    write_file(dir_.path() / "layers/second/root/etc/motd", "top layer\n");
    write_file(image_ / "layers", "# bottom first\nsite\n\nsecond\n");
    auto index = build();
    ASSERT_TRUE(index);
    const ImageNode* host = at(*index, "/etc/hostname");
    ASSERT_TRUE(host);
    EXPECT_EQ(contents(*index, *host), "from-the-layer\n");
    EXPECT_EQ(contents(*index, *at(*index, "/etc/ssh/sshd_config")), "PermitRootLogin no\n");
    EXPECT_EQ(contents(*index, *at(*index, "/etc/motd")), "top layer\n");
    EXPECT_TRUE(at(*index, "/etc/fifo"));  // image entries of a merged directory stay
    EXPECT_TRUE(at(*index, "/boot/firmware/ssh"));
    EXPECT_TRUE(at(*index, "/boot/firmware/config.txt"));
    EXPECT_EQ(at(*index, "/usr/bin/ls")->mode, 04755u);
    EXPECT_EQ(at(*index, "/usr/bin/dir")->mode, 04755u);  // the same inode
    EXPECT_EQ(at(*index, "/etc")->nlink, 3u);             // ssh
    // A missing layer fails the image rather than serving it without its fix-ups.
    write_file(image_ / "layers", "site\nmissing\n");
    ImageOptions o;
    o.name = "pi";
    o.image_dir = image_;
    o.id_map_path = dir_.path() / "pi.ids";
    o.layers_dir = dir_.path() / "layers";
    EXPECT_EQ(ImageIndex::build(o).error(), std::errc::no_such_file_or_directory);
}

TEST(ImageMetadata, ParsesEscapesAndRejectsBadLines) {
    auto m = parse_image_metadata(
        "# comment\n\nroot/a\\tb\tf\t644\t1\t2\nroot/x\tq\t644\t1\t2\nboot/c\tc\t600\t0\t0\t4\t"
        "64\nroot/y\tf\t99999\t0\t0\n/abs\tf\t644\t0\t0\n",
        "test");
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m.at("root/a\tb").uid, 1u);
    EXPECT_EQ(m.at("boot/c").rdev_minor, 64u);
}

// Found by fuzz/image_metadata_fuzz.cc: a directory line with device numbers kept them, so
// the entry did not survive format_metadata_line and parse_image_metadata again.
TEST(ImageMetadata, DeviceNumbersOnlyForCharAndBlockDevices) {
    auto m = parse_image_metadata("root\td\t755\t0\t0\t5\t1000\nroot/dev/sda\tb\t660\t0\t6\t8\t0\n",
                                  "test");
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m.at("root").rdev_major, 0u);
    EXPECT_EQ(m.at("root").rdev_minor, 0u);
    EXPECT_EQ(m.at("root").mode, 0755u);
    EXPECT_EQ(m.at("root/dev/sda").rdev_major, 8u);
    auto again = parse_image_metadata(format_metadata_line("root", m.at("root")), "test");
    EXPECT_EQ(again.at("root").rdev_minor, m.at("root").rdev_minor);
}

}  // namespace
}  // namespace rootfarm::store

namespace rootfarm::store {
namespace {

TEST(IdMap, AVersionOneFileKeepsItsIdsAndLearnsTypes) {
    testing::TempDir dir;
    std::filesystem::path path = dir.path() / "pi.ids";
    testing::write_file(path, "rootfarm-ids 1 77\n1 root\n2 root/etc\n3 root/etc/hosts\n");
    Result<IdMap> ids = IdMap::load(*Env::Default(), path);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(ids->generation(), 77u);
    EXPECT_EQ(ids->get("root/etc", FileType::kDirectory), 2u);
    EXPECT_EQ(ids->get("root/etc/hosts", FileType::kRegular), 3u);
    ASSERT_TRUE(ids->save(*Env::Default(), path).ok());

    Result<IdMap> again = IdMap::load(*Env::Default(), path);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->generation(), 77u);
    EXPECT_EQ(again->get("root/etc/hosts", FileType::kRegular), 3u);
    // The same path as another type is another object.
    ObjectId dir_id = again->get("root/etc/hosts", FileType::kDirectory);
    EXPECT_NE(dir_id, 3u);
    EXPECT_EQ(again->get("root/etc/hosts", FileType::kDirectory), dir_id);
    EXPECT_EQ(again->get("root", FileType::kDirectory), 1u);
}

TEST(IdMap, ADamagedTypeIsAnError) {
    testing::TempDir dir;
    std::filesystem::path path = dir.path() / "pi.ids";
    testing::write_file(path, "rootfarm-ids 2 1\n1 x root\n");
    EXPECT_FALSE(IdMap::load(*Env::Default(), path).ok());
    testing::write_file(path, "rootfarm-ids 3 1\n");
    EXPECT_FALSE(IdMap::load(*Env::Default(), path).ok());
}

}  // namespace
}  // namespace rootfarm::store
