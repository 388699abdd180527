// Imports disk images built by the test itself (mkfs.vfat + mtools, mkfs.ext4 -d + debugfs,
// sfdisk) and compares every entry with its source.

#include "images/import.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <thread>

#include "images/fixups.h"
#include "images/test_util.h"
#include "store/delta.h"
#include "store/image_index.h"
#include "store/image_metadata.h"

namespace rootfarm::images {
namespace {

using testing::read_file;
using testing::sh;
using testing::TempDir;
using testing::write_file;

constexpr uid_t kNobody = 65534;
constexpr std::string_view kFstab =
    "proc  /proc  proc  defaults  0  0\nPARTUUID=1234abcd-01  /boot/firmware  vfat  defaults  0  "
    "2\nPARTUUID=1234abcd-02  /  ext4  defaults,noatime  0  1\n";
// vfs_cap_data revision 2, effective, cap_net_raw: what `setcap cap_net_raw+ep` writes.
constexpr std::string_view kCapNetRaw{
    "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20};

struct Expected {
    store::FileType type = store::FileType::kRegular;
    uint32_t mode = 0, uid = 0, gid = 0, major = 0, minor = 0;
    std::string content = {};  // regular: data; symlink: target
    timespec mtime{};
};

// Built once: the source tree, its ext4 and FAT partitions and the disk image.
struct Fixture {
    TempDir dir;
    std::filesystem::path src, disk, boot_fat, root_ext4;
    std::map<std::string, Expected> expected;  // metadata key -> entry
    bool ok = false;

    Fixture() {
        src = dir.path() / "src";
        boot_fat = dir.path() / "boot.fat";
        root_ext4 = dir.path() / "root.ext4";
        disk = dir.path() / "disk.img";
        write_file(src / "etc/fstab", kFstab);
        write_file(src / "etc/hostname", "raspberrypi\n");
        write_file(src / "usr/bin/ping", "ping binary");
        write_file(src / "usr/bin/su", "su binary");
        write_file(src / "usr/bin/passwd", "passwd binary");
        write_file(src / "usr/bin/vi", "vim binary");
        write_file(src / "home/pi/notes.txt", "notes");
        write_file(src / "empty", "");
        write_file(dir.path() / "capfile", kCapNetRaw);
        std::string s = src.string();
        std::string cmds =
            "sif /usr/bin/su mode 0104755\nsif /usr/bin/passwd mode 0102755\nsif "
            "/usr/bin/passwd gid 42\nsif /home/pi uid 1000\nsif /home/pi gid 1000\nsif "
            "/home/pi/notes.txt uid 1000\nsif /home/pi/notes.txt gid 1000\nsif /etc/hostname "
            "mtime_extra 0x1d6f3454\n"  // 123456789 ns << 2
            "cd /dev\nmknod null c 1 3\nsif /dev/null mode 020666\nmknod mmcblk0 b 179 0\nsif "
            "/dev/mmcblk0 mode 060660\nsif /dev/mmcblk0 gid 6\ncd /run\nmknod initctl p\nsif "
            "/run/initctl mode 010600\nea_set -f " +
            (dir.path() / "capfile").string() + " /usr/bin/ping security.capability\n";
        write_file(dir.path() / "debugfs.cmds", cmds);
        ok = sh("cd '" + s +
                "' && mkdir -p dev run boot/firmware tmp var && chmod 1777 tmp && chmod 755 "
                "usr/bin/* && ln usr/bin/vi usr/bin/vim && ln -s usr/bin bin && ln -s python3 "
                "usr/bin/python && ln -s /usr/share/zoneinfo/UTC etc/localtime && truncate -s 40M "
                "var/sparse && printf DATA | dd of=var/sparse bs=1 seek=20971520 conv=notrunc "
                "status=none && head -c 24M /dev/urandom > var/random && touch -d @1600000000 "
                "etc/hostname && mkfs.ext4 -q -F -b 4096 -I 256 -N 512 -L rootfs -E root_owner=0:0 "
                "-d . '" +
                root_ext4.string() + "' 96M && debugfs -w -f '" +
                (dir.path() / "debugfs.cmds").string() + "' '" + root_ext4.string() +
                "' >/dev/null 2>&1") == 0 &&
             testing::make_fat(boot_fat, 32, 40000) &&
             testing::make_disk(disk, {{boot_fat, "c"}, {root_ext4, "83"}});
        if (!ok) return;
        walk(src, "root");
        expected["root/lost+found"] = {store::FileType::kDirectory, 0700, 0, 0};
        auto& su = expected["root/usr/bin/su"];
        su.mode = 04755;
        auto& passwd = expected["root/usr/bin/passwd"];
        passwd.mode = 02755;
        passwd.gid = 42;
        for (const char* key : {"root/home/pi", "root/home/pi/notes.txt"}) {
            expected[key].uid = expected[key].gid = 1000;
        }
        expected["root/etc/hostname"].mtime.tv_nsec = 123456789;
        expected["root/dev/null"] = {store::FileType::kChar, 0666, 0, 0, 1, 3};
        expected["root/dev/mmcblk0"] = {store::FileType::kBlock, 0660, 0, 6, 179, 0};
        expected["root/run/initctl"] = {store::FileType::kFifo, 0600, 0, 0};
        // mkfs.ext4 -d and debugfs set the top directory's and new nodes' times themselves.
        for (const char* key : {"root", "root/lost+found", "root/dev", "root/run", "root/dev/null",
                                "root/dev/mmcblk0", "root/run/initctl"}) {
            expected[key].mtime = {-1, 0};
        }
        expected["boot"] = {store::FileType::kDirectory, 0755, 0, 0};
        expected["boot"].mtime = {-1, 0};
        for (const auto& [path, content] : testing::fat_files()) {
            expected["boot/" + path] = {
                store::FileType::kRegular, 0755, 0, 0, 0, 0, content, {-1, 0}};
        }
        expected["boot/overlays"] = {store::FileType::kDirectory, 0755, 0, 0, 0, 0, "", {-1, 0}};
    }

    void walk(const std::filesystem::path& top, const std::string& tree) {
        struct stat st;
        ::lstat(top.c_str(), &st);
        expected[tree] = {store::FileType::kDirectory, st.st_mode & 07777u, 0, 0};
        for (const auto& e : std::filesystem::recursive_directory_iterator(top)) {
            ::lstat(e.path().c_str(), &st);
            std::string key = tree + "/" + e.path().lexically_relative(top).string();
            Expected x{store::FileType::kRegular, st.st_mode & 07777u, 0, 0};
            // mkfs.ext4 -d (e2fsprogs 1.47.0) keeps whole seconds only; nanoseconds are
            // checked on etc/hostname, set with debugfs.
            x.mtime = {st.st_mtim.tv_sec, 0};
            if (S_ISDIR(st.st_mode)) {
                x.type = store::FileType::kDirectory;
            } else if (S_ISLNK(st.st_mode)) {
                x.type = store::FileType::kSymlink;
                x.content = std::filesystem::read_symlink(e.path()).string();
            } else {
                x.content = read_file(e.path());
            }
            expected[key] = x;
        }
    }
};

// Built on first use and removed at exit: each test runs in a process of its own (ctest), and
// a fixture that outlived its process would leave its ~80 MiB disk image behind.
Fixture& fixture() {
    static Fixture f;
    return f;
}

Config config_in(const TempDir& dir) {
    Config c;
    c.state_dir = dir.path() / "state";
    c.defaults.image = "default";
    return c;
}

// Runs `f` in a child process as nobody (no capabilities, no supplementary groups); returns
// its exit status. The child's result is its error value (0 = success).
template <class F>
int as_nobody(F f) {
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
            ::_exit(100);
        }
        ::_exit(f());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

// Entries visible in the store's image and layer directories.
std::vector<std::string> store_entries(const Config& c) {
    std::vector<std::string> out;
    for (const char* sub : {"images", "layers"}) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(c.state_dir / sub, ec)) {
            out.push_back(std::string(sub) + "/" + e.path().filename().string());
        }
    }
    return out;
}

class ImportTest : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(fixture().ok) << "building the test disk image failed"; }
    TempDir state_;
    Config config_ = config_in(state_);
};

TEST_F(ImportTest, UnprivilegedImportKeepsEveryEntryExactly) {
    std::filesystem::create_directories(config_.state_dir);
    ASSERT_EQ(::chown(config_.state_dir.c_str(), kNobody, kNobody), 0);
    const Fixture& f = fixture();
    int rc = as_nobody([&] {
        auto r = import_image(config_, f.disk, "raspios", {});
        return r.ok() ? 0 : 1;
    });
    ASSERT_EQ(rc, 0);
    std::filesystem::path image = config_.state_dir / "images/raspios";
    auto meta = store::load_image_metadata(image / "metadata");
    std::map<std::string, bool> seen;
    for (const auto& [key, want] : f.expected) {
        SCOPED_TRACE(key);
        auto it = meta.find(key);
        ASSERT_NE(it, meta.end());
        EXPECT_EQ(it->second.type, want.type);
        EXPECT_EQ(it->second.mode, want.mode);
        EXPECT_EQ(it->second.uid, want.uid);
        EXPECT_EQ(it->second.gid, want.gid);
        EXPECT_EQ(it->second.rdev_major, want.major);
        EXPECT_EQ(it->second.rdev_minor, want.minor);
        std::filesystem::path path = image / key;
        struct stat st;
        ASSERT_EQ(::lstat(path.c_str(), &st), 0);
        // Written by nobody, never chowned, never setuid on disk, devices as placeholders.
        EXPECT_EQ(st.st_uid, kNobody);
        EXPECT_EQ(st.st_mode & 07000, 0u);
        if (want.type == store::FileType::kRegular) {
            EXPECT_TRUE(S_ISREG(st.st_mode));
            EXPECT_EQ(read_file(path), want.content);
        } else if (want.type == store::FileType::kSymlink) {
            ASSERT_TRUE(S_ISLNK(st.st_mode));
            EXPECT_EQ(std::filesystem::read_symlink(path).string(), want.content);
        } else if (want.type == store::FileType::kDirectory) {
            EXPECT_TRUE(S_ISDIR(st.st_mode));
        } else {
            EXPECT_TRUE(S_ISREG(st.st_mode));
            EXPECT_EQ(st.st_size, 0);
        }
        if (want.mtime.tv_sec != -1) {
            EXPECT_EQ(st.st_mtim.tv_sec, want.mtime.tv_sec);
            EXPECT_EQ(st.st_mtim.tv_nsec, want.mtime.tv_nsec);
        }
        seen[key] = true;
    }
    for (const auto& [key, entry] : meta) EXPECT_TRUE(seen.count(key)) << "unexpected " << key;

    struct stat vi, vim, sparse;
    ASSERT_EQ(::stat((image / "root/usr/bin/vi").c_str(), &vi), 0);
    ASSERT_EQ(::stat((image / "root/usr/bin/vim").c_str(), &vim), 0);
    EXPECT_EQ(vi.st_ino, vim.st_ino);
    ASSERT_EQ(::stat((image / "root/var/sparse").c_str(), &sparse), 0);
    EXPECT_EQ(sparse.st_size, 40 << 20);
    EXPECT_LT(sparse.st_blocks * 512, 1 << 20) << "the 40 MB sparse file lost its holes";

    auto list = list_images(config_);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ((*list)[0].name, "raspios");
    // Each inode once (vim is vi), holes excluded: of the sparse file, only the 4096-byte block
    // holding "DATA" is stored.
    uint64_t files = 0, bytes = 0;
    for (const auto& [key, want] : f.expected) {
        if (want.type != store::FileType::kRegular || key == "root/usr/bin/vim") continue;
        ++files;
        bytes += key == "root/var/sparse" ? 4096 : want.content.size();
    }
    EXPECT_EQ((*list)[0].files, files);
    EXPECT_EQ((*list)[0].bytes, bytes);
    EXPECT_FALSE((*list)[0].imported_at.empty());
}

TEST_F(ImportTest, FixupLayerRewritesFstabEnablesSshAndFallsBackToSetuid) {
    config_.image.enable_ssh = true;
    config_.image.setcap_fallback = true;
    auto r = import_image(config_, fixture().disk, "raspios", {});
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->hardlinks, 1u);
    EXPECT_EQ(r->devices, 3u);
    EXPECT_EQ(r->symlinks, 3u);
    std::filesystem::path layer = config_.state_dir / "layers/raspios-fixups";
    EXPECT_EQ(read_file(layer / "root/etc/fstab"), "proc  /proc  proc  defaults  0  0\n");
    // The image itself is untouched.
    EXPECT_EQ(read_file(config_.state_dir / "images/raspios/root/etc/fstab"), kFstab);
    EXPECT_TRUE(std::filesystem::is_regular_file(layer / "boot/ssh"));
    auto meta = store::load_image_metadata(layer / "metadata");
    ASSERT_TRUE(meta.count("root/usr/bin/ping"));
    EXPECT_EQ(meta["root/usr/bin/ping"].mode, 04755u);
    EXPECT_EQ(meta["root/usr/bin/ping"].uid, 0u);
    EXPECT_EQ(meta["root/etc/fstab"].mode, 0644u);
    EXPECT_EQ(meta["boot/ssh"].type, store::FileType::kRegular);
    bool ping_logged = false;
    for (const auto& line : r->fixups) {
        if (line.find("/usr/bin/ping") != std::string::npos &&
            line.find("cap_net_raw=ep") != std::string::npos) {
            ping_logged = true;
        }
    }
    EXPECT_TRUE(ping_logged);
}

// The image through the store's own index, as nfsd serves it: the metadata and the fix-up
// layer decide what a client sees.
const store::ImageNode* resolve(const store::ImageIndex& index, std::string_view path) {
    const store::ImageNode* n = index.node(index.root());
    for (const auto& part : std::filesystem::path(path)) {
        if (part == "/") continue;
        if (!n) return nullptr;
        n = index.lookup(*n, part.string());
    }
    return n;
}

std::string read_through(const store::ImageIndex& index, const store::ImageNode& n) {
    auto file = index.open_file(n);
    if (!file.ok()) return "<open failed>";
    std::string data(n.size, '\0');
    ssize_t got = ::pread((*file)->fd(), data.data(), data.size(), 0);
    return got == static_cast<ssize_t>(data.size()) ? data : "<short read>";
}

TEST_F(ImportTest, StoreServesTheImportedImageWithItsFixups) {
    config_.image.enable_ssh = true;
    config_.image.setcap_fallback = true;
    ASSERT_TRUE(import_image(config_, fixture().disk, "raspios", {}).ok());
    store::ImageOptions options;
    options.name = "raspios";
    options.image_dir = config_.state_dir / "images/raspios";
    options.id_map_path = config_.state_dir / "index/raspios.ids";
    options.layers_dir = config_.state_dir / "layers";
    std::filesystem::create_directories(config_.state_dir / "index");
    auto built = store::ImageIndex::build(options);
    ASSERT_TRUE(built.ok()) << built.error().message();
    const store::ImageIndex& index = **built;

    const store::ImageNode* su = resolve(index, "/usr/bin/su");
    ASSERT_NE(su, nullptr);
    EXPECT_EQ(index.attr(*su).mode, 04755u);
    EXPECT_EQ(index.attr(*su).uid, 0u);
    const store::ImageNode* null = resolve(index, "/dev/null");
    ASSERT_NE(null, nullptr);
    EXPECT_EQ(index.attr(*null).type, store::FileType::kChar);
    EXPECT_EQ(index.attr(*null).rdev_major, 1u);
    EXPECT_EQ(index.attr(*null).rdev_minor, 3u);
    const store::ImageNode* vi = resolve(index, "/usr/bin/vi");
    ASSERT_NE(vi, nullptr);
    EXPECT_EQ(index.attr(*vi).nlink, 2u);
    const store::ImageNode* ping = resolve(index, "/usr/bin/ping");
    ASSERT_NE(ping, nullptr);
    EXPECT_EQ(index.attr(*ping).mode, 04755u);
    const store::ImageNode* fstab = resolve(index, "/etc/fstab");
    ASSERT_NE(fstab, nullptr);
    EXPECT_EQ(read_through(index, *fstab), "proc  /proc  proc  defaults  0  0\n");
    const store::ImageNode* ssh = resolve(index, "/boot/firmware/ssh");
    ASSERT_NE(ssh, nullptr);
    const store::ImageNode* config_txt = resolve(index, "/boot/firmware/config.txt");
    ASSERT_NE(config_txt, nullptr);
    EXPECT_EQ(read_through(index, *config_txt), testing::fat_files()[0].second);
}

TEST_F(ImportTest, WithoutFallbackCapabilitiesAreOnlyListed) {
    auto r = import_image(config_, fixture().disk, "raspios", {});
    ASSERT_TRUE(r.ok());
    std::filesystem::path layer = config_.state_dir / "layers/raspios-fixups";
    EXPECT_FALSE(std::filesystem::exists(layer / "boot/ssh"));
    EXPECT_FALSE(store::load_image_metadata(layer / "metadata").count("root/usr/bin/ping"));
}

TEST_F(ImportTest, GptDiskImports) {
    const Fixture& f = fixture();
    TempDir work;
    ASSERT_TRUE(testing::make_disk(work.path() / "gpt.img",
                                   {{f.boot_fat, "EBD0A0A2-B9E5-4433-87C0-68B99B26599A"},
                                    {f.root_ext4, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}},
                                   true));
    auto r = import_image(config_, work.path() / "gpt.img", "gpt", {});
    ASSERT_TRUE(r.ok()) << r.error().message();
    std::filesystem::path image = config_.state_dir / "images/gpt";
    EXPECT_EQ(read_file(image / "root/usr/bin/su"), "su binary");
    EXPECT_EQ(read_file(image / "boot/config.txt"), testing::fat_files()[0].second);
}

TEST_F(ImportTest, XzCompressedImageImportsLikeThePlainOne) {
    // Raspberry Pi OS is downloaded as .img.xz; the import reads it without a manual unxz.
    const Fixture& f = fixture();
    TempDir work;
    std::filesystem::path xz = work.path() / "raspios.img.xz";
    ASSERT_EQ(sh("xz -T1 -0 -c '" + f.disk.string() + "' > '" + xz.string() + "'"), 0);
    ASSERT_TRUE(import_image(config_, f.disk, "plain", {}).ok());
    auto r = import_image(config_, xz, "packed", {});
    ASSERT_TRUE(r.ok()) << r.error().message();
    std::filesystem::path plain = config_.state_dir / "images/plain";
    std::filesystem::path packed = config_.state_dir / "images/packed";
    EXPECT_EQ(read_file(packed / "metadata"), read_file(plain / "metadata"));
    for (const auto& [key, want] : f.expected) {
        if (want.type == store::FileType::kRegular) {
            EXPECT_EQ(read_file(packed / key), want.content) << key;
        }
    }
    struct stat sparse;
    ASSERT_EQ(::stat((packed / "root/var/sparse").c_str(), &sparse), 0);
    EXPECT_LT(sparse.st_blocks * 512, 1 << 20) << "the 40 MB sparse file lost its holes";
    // The decompressed copy is gone: the image and its layer per import, nothing else.
    EXPECT_EQ(store_entries(config_).size(), 4u);

    // A cut or damaged download is one clear error and changes nothing.
    std::filesystem::copy_file(xz, work.path() / "cut.img.xz");
    std::filesystem::resize_file(work.path() / "cut.img.xz", std::filesystem::file_size(xz) / 2);
    EXPECT_EQ(import_image(config_, work.path() / "cut.img.xz", "cut", {}).error(),
              make_error_code(ImageErrc::kNotAnImage));
    std::string bytes = read_file(xz);
    for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 64; ++i) bytes[i] ^= 0x5a;
    write_file(work.path() / "bad.img.xz", bytes);
    EXPECT_EQ(import_image(config_, work.path() / "bad.img.xz", "bad", {}).error(),
              make_error_code(ImageErrc::kNotAnImage));
    EXPECT_EQ(store_entries(config_).size(), 4u);
}

TEST_F(ImportTest, Fat16BootPartitionImports) {
    const Fixture& f = fixture();
    TempDir work;
    ASSERT_TRUE(testing::make_fat(work.path() / "boot16.fat", 16, 20000));
    ASSERT_TRUE(testing::make_disk(work.path() / "fat16.img",
                                   {{work.path() / "boot16.fat", "e"}, {f.root_ext4, "83"}}));
    auto r = import_image(config_, work.path() / "fat16.img", "fat16", {});
    ASSERT_TRUE(r.ok()) << r.error().message();
    std::filesystem::path boot = config_.state_dir / "images/fat16/boot";
    for (const auto& [path, content] : testing::fat_files()) {
        EXPECT_EQ(read_file(boot / path), content) << path;
    }
}

TEST_F(ImportTest, ExistingNameNeedsReplaceAndBadNamesAreRefused) {
    ASSERT_TRUE(import_image(config_, fixture().disk, "raspios", {}).ok());
    EXPECT_EQ(import_image(config_, fixture().disk, "raspios", {}).error(),
              make_error_code(ImageErrc::kExists));
    auto again = import_image(config_, fixture().disk, "raspios", {.replace = true});
    EXPECT_TRUE(again.ok());
    EXPECT_EQ(store_entries(config_).size(), 2u);  // the image and its layer, nothing left over
    for (const char* bad : {"", ".", "..", "a/b", ".tmp-x-1", "-x", "x y"}) {
        EXPECT_EQ(import_image(config_, fixture().disk, bad, {}).error(),
                  make_error_code(ImageErrc::kBadName))
            << bad;
    }
}

TEST_F(ImportTest, BadInputLeavesTheStoreUntouched) {
    const Fixture& f = fixture();
    TempDir work;
    auto expect_refused = [&](const std::filesystem::path& source, ImageErrc errc) {
        EXPECT_EQ(import_image(config_, source, "bad", {}).error(), make_error_code(errc))
            << source;
        EXPECT_TRUE(store_entries(config_).empty()) << source;
    };
    write_file(work.path() / "notes.txt", std::string(10000, 'x'));
    expect_refused(work.path() / "notes.txt", ImageErrc::kNotAnImage);
    expect_refused("/dev/null", ImageErrc::kBadSource);

    std::filesystem::copy_file(f.disk, work.path() / "cut.img");
    std::filesystem::resize_file(work.path() / "cut.img",
                                 std::filesystem::file_size(f.disk) * 6 / 10);
    expect_refused(work.path() / "cut.img", ImageErrc::kTruncated);

    ASSERT_TRUE(testing::make_disk(work.path() / "bootonly.img", {{f.boot_fat, "c"}}));
    expect_refused(work.path() / "bootonly.img", ImageErrc::kNoRootPartition);

    ASSERT_TRUE(testing::make_fat(work.path() / "f12.fat", 12, 2000));
    ASSERT_TRUE(testing::make_disk(work.path() / "fat12.img",
                                   {{work.path() / "f12.fat", "1"}, {f.root_ext4, "83"}}));
    expect_refused(work.path() / "fat12.img", ImageErrc::kUnsupportedFat);

    // A FAT directory entry whose short name holds a '/'.
    std::filesystem::copy_file(f.boot_fat, work.path() / "slash.fat");
    ASSERT_EQ(sh("off=$(grep -obUa 'CONFIG  TXT' '" + (work.path() / "slash.fat").string() +
                 "' | head -1 | cut -d: -f1) && printf / | dd of='" +
                 (work.path() / "slash.fat").string() +
                 "' bs=1 seek=$((off + 3)) conv=notrunc status=none"),
              0);
    ASSERT_TRUE(testing::make_disk(work.path() / "slash.img",
                                   {{work.path() / "slash.fat", "c"}, {f.root_ext4, "83"}}));
    expect_refused(work.path() / "slash.img", ImageErrc::kCorruptFat);

    // ext4: an entry naming a free inode, and an entry whose name holds a '/'.
    std::filesystem::copy_file(f.root_ext4, work.path() / "ghost.ext4");
    ASSERT_EQ(sh("debugfs -w -R 'ln <400> /etc/ghost' '" + (work.path() / "ghost.ext4").string() +
                 "' >/dev/null 2>&1"),
              0);
    ASSERT_TRUE(testing::make_disk(work.path() / "ghost.img",
                                   {{f.boot_fat, "c"}, {work.path() / "ghost.ext4", "83"}}));
    expect_refused(work.path() / "ghost.img", ImageErrc::kCorruptExt4);
    std::filesystem::copy_file(f.root_ext4, work.path() / "slash.ext4");
    ASSERT_EQ(sh("debugfs -w -R 'mknod etc/bad p' '" + (work.path() / "slash.ext4").string() +
                 "' >/dev/null 2>&1"),
              0);
    ASSERT_TRUE(testing::make_disk(work.path() / "slash4.img",
                                   {{f.boot_fat, "c"}, {work.path() / "slash.ext4", "83"}}));
    expect_refused(work.path() / "slash4.img", ImageErrc::kCorruptExt4);
}

TEST_F(ImportTest, InterruptedImportLeavesNothingVisible) {
    const Fixture& f = fixture();
    std::filesystem::create_directories(config_.state_dir / "images");
    bool killed_midway = false;
    // Killed as soon as its temporary directory appears; if an attempt finishes first (the
    // machine was fast), it is removed and tried again.
    for (int attempt = 0; attempt < 10 && !killed_midway; ++attempt) {
        pid_t pid = ::fork();
        if (pid == 0) {
            auto r = import_image(config_, f.disk, "raspios", {.progress = false});
            ::_exit(r.ok() ? 0 : 1);
        }
        std::filesystem::path tmp =
            config_.state_dir / "images" / (".tmp-raspios-" + std::to_string(pid));
        int status = 0;
        for (int i = 0; i < 60000; ++i) {
            if (std::filesystem::exists(tmp)) {
                ::kill(pid, SIGKILL);
                break;
            }
            if (::waitpid(pid, &status, WNOHANG) == pid) break;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        ::waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) {
            killed_midway = true;
            EXPECT_FALSE(std::filesystem::exists(config_.state_dir / "images/raspios"));
            auto list = list_images(config_);
            ASSERT_TRUE(list.ok());
            EXPECT_TRUE(list->empty());
            EXPECT_TRUE(std::filesystem::exists(tmp));
        } else {
            ASSERT_TRUE(remove_image(config_, "raspios").ok());
        }
    }
    ASSERT_TRUE(killed_midway);
    auto r = import_image(config_, f.disk, "raspios", {});
    ASSERT_TRUE(r.ok());
    // The next import removed what the killed one left.
    std::vector<std::string> entries = store_entries(config_);
    std::sort(entries.begin(), entries.end());
    EXPECT_EQ(entries, (std::vector<std::string>{"images/raspios", "layers/raspios-fixups"}));
}

TEST_F(ImportTest, RemoveIsRefusedWhileAClientUsesTheImage) {
    ASSERT_TRUE(import_image(config_, fixture().disk, "raspios", {}).ok());
    Config by_default = config_;
    by_default.defaults.image = "raspios";
    EXPECT_EQ(remove_image(by_default, "raspios").error(), make_error_code(ImageErrc::kInUse));
    Config by_client = config_;
    by_client.clients.push_back(ClientConfig{});
    by_client.clients.back().image = "raspios";
    EXPECT_EQ(remove_image(by_client, "raspios").error(), make_error_code(ImageErrc::kInUse));
    EXPECT_EQ(import_image(by_client, fixture().disk, "raspios", {.replace = true}).error(),
              make_error_code(ImageErrc::kInUse));

    std::filesystem::path delta = config_.state_dir / "clients/dc-a6-32-00-00-01";
    std::filesystem::create_directories(delta);
    ASSERT_TRUE(store::save_delta_meta(*store::Env::Default(), delta / "delta.meta",
                                       {"raspios", 0x1234, 1u << 20})
                    .ok());
    EXPECT_EQ(remove_image(config_, "raspios").error(), make_error_code(ImageErrc::kInUse));
    std::filesystem::remove_all(delta);

    EXPECT_TRUE(remove_image(config_, "raspios").ok());
    EXPECT_TRUE(store_entries(config_).empty());
    EXPECT_EQ(remove_image(config_, "raspios").error(), make_error_code(ImageErrc::kNotFound));
}

TEST_F(ImportTest, RandomExt4CorruptionIsAnErrorNeverACrash) {
    // Bytes flipped at random in the root filesystem's metadata (superblock, group
    // descriptors, bitmaps, inode table): each import ends with an image or with one error and
    // an untouched store. Seeded, so a failure reproduces.
    const Fixture& f = fixture();
    TempDir work;
    std::filesystem::path disk = work.path() / "disk.img";
    ASSERT_EQ(sh("cp --sparse=always '" + f.disk.string() + "' '" + disk.string() + "'"), 0);
    uint64_t root = testing::partition_offset({{f.boot_fat, "c"}, {f.root_ext4, "83"}}, 1);
    constexpr size_t kMetadataBytes = 1 << 20;
    std::string pristine = read_file(f.root_ext4).substr(0, kMetadataBytes);
    int fd = ::open(disk.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::mt19937 rng(7);
    int refused = 0;
    for (int round = 0; round < 30; ++round) {
        std::string bytes = pristine;
        for (int i = 0; i < 16; ++i) bytes[rng() % bytes.size()] = static_cast<char>(rng());
        ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(root)),
                  static_cast<ssize_t>(bytes.size()));
        auto r = import_image(config_, disk, "fuzz", {.progress = false});
        if (r) {
            ASSERT_TRUE(remove_image(config_, "fuzz").ok());
        } else {
            ++refused;
        }
        EXPECT_TRUE(store_entries(config_).empty()) << "round " << round;
    }
    ::close(fd);
    EXPECT_GT(refused, 0);
}

TEST_F(ImportTest, DirectorySourceWithRootAndBoot) {
    TempDir work;
    write_file(work.path() / "src/root/etc/fstab", kFstab);
    write_file(work.path() / "src/root/usr/bin/tool", "tool");
    write_file(work.path() / "src/boot/config.txt", "arm_64bit=1\n");
    ASSERT_EQ(sh("cd '" + (work.path() / "src/root").string() +
                 "' && chmod 4755 usr/bin/tool && mkfifo fifo && ln -s usr/bin/tool link && "
                 "truncate -s 10M sparse"),
              0);
    auto r = import_image(config_, work.path() / "src", "handmade", {});
    ASSERT_TRUE(r.ok()) << r.error().message();
    std::filesystem::path image = config_.state_dir / "images/handmade";
    auto meta = store::load_image_metadata(image / "metadata");
    EXPECT_EQ(meta["root/usr/bin/tool"].mode, 04755u);
    EXPECT_EQ(meta["root/fifo"].type, store::FileType::kFifo);
    EXPECT_EQ(meta["root/link"].type, store::FileType::kSymlink);
    EXPECT_EQ(read_file(image / "boot/config.txt"), "arm_64bit=1\n");
    struct stat st;
    ASSERT_EQ(::stat((image / "root/sparse").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 10 << 20);
    EXPECT_LT(st.st_blocks * 512, 1 << 20);
    EXPECT_EQ(read_file(config_.state_dir / "layers/handmade-fixups/root/etc/fstab"),
              "proc  /proc  proc  defaults  0  0\n");
}

}  // namespace
}  // namespace rootfarm::images
