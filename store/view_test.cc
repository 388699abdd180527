// Merged-view semantics of ClientView: each operation over image objects and client objects.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "store/store.h"
#include "store/test_util.h"

namespace rootfarm::store {
namespace {

using namespace testing;

class ViewTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto image = dir_.path() / "images" / "pi";
        write_file(image / "root/etc/hostname", "raspberrypi\n");
        write_file(image / "root/etc/passwd", "root:x:0:0\n");
        write_file(image / "root/usr/bin/sudo", "sudo-binary", 04755);
        write_file(image / "root/usr/lib/a.so", "liba");
        write_file(image / "root/usr/lib/b.so", "libb");
        write_file(image / "root/usr/lib/deep/c.so", "libc");
        ::link((image / "root/usr/lib/a.so").c_str(), (image / "root/usr/lib/a.so.1").c_str());
        write_file(image / "boot/config.txt", "arm_64bit=1\n");
        write_file(image / "boot/kernel8.img", "kernel-v1");
        reopen();
    }

    void reopen() {
        view_.reset();
        other_.reset();
        store_.reset();
        StoreOptions o;
        o.state_dir = dir_.path();
        o.client_quota = quota_;
        auto s = Store::open(o);
        ASSERT_TRUE(s.ok()) << s.error().message();
        store_ = std::move(*s);
        auto v = store_->view(mac(1), "pi");
        ASSERT_TRUE(v.ok()) << v.error().message();
        view_ = *v;
    }

    ClientView& other() {
        if (!other_) other_ = *store_->view(mac(2), "pi");
        return *other_;
    }

    ObjectId id(std::string_view path) { return walk(*view_, path); }
    Attr attr(std::string_view path) { return *view_->getattr(id(path)); }
    size_t data_objects() {
        size_t n = 0;
        for (auto& e : std::filesystem::directory_iterator(dir_.path() / "clients" /
                                                           mac(1).dashed() / "objects")) {
            (void)e;
            ++n;
        }
        return n;
    }
    NewObject create(std::string_view dir, std::string_view name, std::string_view data = {}) {
        CreateArgs args;
        args.owner = {1000, 1000};
        auto r = view_->create(id(dir), name, args);
        EXPECT_TRUE(r.ok()) << r.error().message();
        if (r.ok() && !data.empty()) {
            EXPECT_TRUE(write_at(*view_, r->id, 0, data).ok());
        }
        return r.ok() ? *r : NewObject{};
    }

    TempDir dir_;
    uint64_t quota_ = 0;
    std::unique_ptr<Store> store_;
    std::shared_ptr<ClientView> view_, other_;
};

TEST_F(ViewTest, ImageIsVisibleThroughTheView) {
    EXPECT_EQ(read_all(*view_, id("/etc/hostname")), "raspberrypi\n");
    EXPECT_EQ(list(*view_, id("/usr/lib")),
              (std::vector<std::string>{"a.so", "a.so.1", "b.so", "deep"}));
    EXPECT_EQ(*view_->lookup(id("/usr/lib"), ".."), id("/usr"));
    EXPECT_EQ(*view_->lookup(view_->root(), ".."), view_->root());
    EXPECT_EQ(view_->lookup(id("/etc"), "nope").error(), std::errc::no_such_file_or_directory);
    EXPECT_EQ(view_->lookup(id("/etc/hostname"), "x").error(), std::errc::not_a_directory);
    EXPECT_EQ(view_->boot_root(), id("/boot/firmware"));
    EXPECT_EQ(read_all(*view_, id("/boot/firmware/kernel8.img")), "kernel-v1");
}

TEST_F(ViewTest, CreateWriteReadAndAttributes) {
    NewObject f = create("/etc", "motd", "hello");
    EXPECT_GE(f.id, ObjectId{1} << 31);
    EXPECT_LT(f.id, ObjectId{1} << 32);
    Attr a = *view_->getattr(f.id);
    EXPECT_EQ(a.size, 5u);
    EXPECT_EQ(a.uid, 1000u);
    EXPECT_EQ(a.fileid, f.id);
    EXPECT_EQ(read_all(*view_, f.id), "hello");
    ASSERT_TRUE(f.dir.before && f.dir.after);
    EXPECT_GE(f.dir.after->mtime, f.dir.before->mtime);
    CreateArgs guarded;
    guarded.mode = CreateArgs::Mode::kGuarded;
    EXPECT_EQ(view_->create(id("/etc"), "motd", guarded).error(), std::errc::file_exists);
    // The image itself is untouched.
    EXPECT_FALSE(std::filesystem::exists(dir_.path() / "images/pi/root/etc/motd"));
}

TEST_F(ViewTest, WriteToImageFileCopiesUpAndKeepsItsId) {
    ObjectId host = id("/etc/hostname");
    Handle h = view_->handle(host);
    ASSERT_TRUE(write_at(*view_, host, 0, "PI").ok());
    EXPECT_EQ(id("/etc/hostname"), host);
    EXPECT_EQ(*view_->resolve(h.span()), host);
    EXPECT_EQ(read_all(*view_, host), "PIspberrypi\n");
    EXPECT_EQ(view_->getattr(host)->fileid, host);
    std::ifstream image(dir_.path() / "images/pi/root/etc/hostname");
    std::string original((std::istreambuf_iterator<char>(image)), {});
    EXPECT_EQ(original, "raspberrypi\n");
}

TEST_F(ViewTest, TruncateImageFileThenGrowReadsZeros) {
    ObjectId host = id("/etc/hostname");
    SetAttrArgs cut;
    cut.size = 4;
    ASSERT_TRUE(view_->setattr(host, cut).ok());
    EXPECT_EQ(read_all(*view_, host), "rasp");
    SetAttrArgs grow;
    grow.size = 8;
    ASSERT_TRUE(view_->setattr(host, grow).ok());
    EXPECT_EQ(read_all(*view_, host), std::string("rasp\0\0\0\0", 8));
}

TEST_F(ViewTest, ChmodOfImageSetuidFileCopiesNoData) {
    ObjectId sudo = id("/usr/bin/sudo");
    SetAttrArgs a;
    a.mode = 0755;
    a.uid = 0;
    a.gid = 0;
    auto wcc = view_->setattr(sudo, a);
    ASSERT_TRUE(wcc.ok());
    EXPECT_EQ(wcc->after->mode, 0755u);
    EXPECT_EQ(data_objects(), 0u);
    a.mode = 04711;
    ASSERT_TRUE(view_->setattr(sudo, a).ok());
    EXPECT_EQ(attr("/usr/bin/sudo").mode, 04711u);
    EXPECT_EQ(read_all(*view_, sudo), "sudo-binary");
    EXPECT_EQ(data_objects(), 0u);
}

TEST_F(ViewTest, OwnershipAndDevicesLiveOnlyInMetadata) {
    SetAttrArgs a;
    a.mode = 04750;
    CreateArgs args;
    args.attrs = a;
    args.owner = {0, 4242};
    auto f = view_->create(view_->root(), "suid", args);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(write_at(*view_, f->id, 0, "x").ok());
    EXPECT_EQ(f->attr.mode, 04750u);
    EXPECT_EQ(f->attr.gid, 4242u);
    auto dev = view_->mknod(view_->root(), "sda", FileType::kBlock, 8, 0, {}, {0, 6});
    ASSERT_TRUE(dev.ok());
    EXPECT_EQ(dev->attr.rdev_major, 8u);
    EXPECT_EQ(dev->attr.type, FileType::kBlock);
    // The backing file is the server's own, plain and private.
    struct stat st;
    auto backing = dir_.path() / "clients" / mac(1).dashed() / "objects" / std::to_string(f->id);
    ASSERT_EQ(::stat(backing.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, ::geteuid());
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(data_objects(), 1u);  // no node for the device
    EXPECT_EQ(view_->mknod(view_->root(), "x", FileType::kRegular, 0, 0, {}, {}).error(),
              std::errc::invalid_argument);
}

TEST_F(ViewTest, MkdirSymlinkAndDirectoryLinkCounts) {
    uint32_t before = attr("/etc").nlink;
    auto d = view_->mkdir(id("/etc"), "conf.d", {}, {0, 0});
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->attr.nlink, 2u);
    EXPECT_EQ(attr("/etc").nlink, before + 1);
    EXPECT_EQ(*view_->lookup(d->id, ".."), id("/etc"));
    auto l = view_->symlink(d->id, "link", "../hostname", {}, {0, 0});
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(*view_->readlink(l->id), "../hostname");
    EXPECT_EQ(l->attr.size, 11u);
    EXPECT_EQ(view_->rmdir(id("/etc"), "conf.d").error(), std::errc::directory_not_empty);
    ASSERT_TRUE(view_->remove(d->id, "link").ok());
    ASSERT_TRUE(view_->rmdir(id("/etc"), "conf.d").ok());
    EXPECT_EQ(attr("/etc").nlink, before);
    EXPECT_EQ(view_->getattr(d->id).error(), errno_error(ESTALE));
}

TEST_F(ViewTest, RemoveImageFileLeavesWhiteoutThenRecreateIsNewFile) {
    ObjectId old = id("/etc/passwd");
    ASSERT_TRUE(view_->remove(id("/etc"), "passwd").ok());
    EXPECT_FALSE(exists(*view_, "/etc/passwd"));
    EXPECT_EQ(list(*view_, id("/etc")), std::vector<std::string>{"hostname"});
    EXPECT_EQ(view_->getattr(old).error(), errno_error(ESTALE));
    NewObject f = create("/etc", "passwd", "new");
    EXPECT_NE(f.id, old);
    EXPECT_EQ(read_all(*view_, id("/etc/passwd")), "new");
    ASSERT_TRUE(view_->remove(id("/etc"), "passwd").ok());
    EXPECT_FALSE(exists(*view_, "/etc/passwd"));
}

TEST_F(ViewTest, RemoveImageDirectoryAndRecreateItIsEmpty) {
    ObjectId deep = id("/usr/lib/deep");
    ASSERT_TRUE(view_->remove(deep, "c.so").ok());
    ASSERT_TRUE(view_->rmdir(id("/usr/lib"), "deep").ok());
    auto d = view_->mkdir(id("/usr/lib"), "deep", {}, {});
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(list(*view_, d->id).empty());  // opaque: the image's c.so stays hidden
    EXPECT_EQ(view_->lookup(d->id, "c.so").error(), std::errc::no_such_file_or_directory);
}

TEST_F(ViewTest, RenameImageDirectoryBringsItsImageChildren) {
    ObjectId lib = id("/usr/lib");
    ObjectId c = id("/usr/lib/deep/c.so");
    ASSERT_TRUE(view_->rename(id("/usr"), "lib", view_->root(), "lib").ok());
    EXPECT_FALSE(exists(*view_, "/usr/lib"));
    EXPECT_EQ(id("/lib"), lib);
    EXPECT_EQ(id("/lib/deep/c.so"), c);
    EXPECT_EQ(read_all(*view_, c), "libc");
    EXPECT_EQ(*view_->lookup(lib, ".."), view_->root());
    EXPECT_EQ(list(*view_, id("/lib")),
              (std::vector<std::string>{"a.so", "a.so.1", "b.so", "deep"}));
    // Link counts follow the subdirectory.
    EXPECT_EQ(attr("/usr").nlink, 3u);  // bin
    // Children can still change under the renamed directory.
    ASSERT_TRUE(view_->remove(id("/lib"), "b.so").ok());
    EXPECT_EQ(list(*view_, id("/lib")), (std::vector<std::string>{"a.so", "a.so.1", "deep"}));
}

TEST_F(ViewTest, RenameOverExistingTargetAndErrors) {
    NewObject tmp = create("/etc", "hostname.tmp", "new-name\n");
    auto r = view_->rename(id("/etc"), "hostname.tmp", id("/etc"), "hostname");
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(id("/etc/hostname"), tmp.id);
    EXPECT_EQ(read_all(*view_, id("/etc/hostname")), "new-name\n");
    EXPECT_FALSE(exists(*view_, "/etc/hostname.tmp"));
    // Directory over file, file over directory, directory below itself, non-empty target.
    EXPECT_EQ(view_->rename(view_->root(), "usr", id("/etc"), "hostname").error(),
              std::errc::not_a_directory);
    EXPECT_EQ(view_->rename(id("/etc"), "passwd", view_->root(), "usr").error(),
              std::errc::is_a_directory);
    EXPECT_EQ(view_->rename(view_->root(), "usr", id("/usr/lib"), "x").error(),
              std::errc::invalid_argument);
    EXPECT_EQ(view_->rename(id("/usr"), "lib", view_->root(), "etc").error(),
              std::errc::directory_not_empty);
    EXPECT_EQ(view_->rename(id("/etc"), "nope", id("/etc"), "x").error(),
              std::errc::no_such_file_or_directory);
    // Renaming onto another name of the same file does nothing.
    ASSERT_TRUE(view_->rename(id("/usr/lib"), "a.so", id("/usr/lib"), "a.so.1").ok());
    EXPECT_TRUE(exists(*view_, "/usr/lib/a.so"));
    // An empty directory can be replaced by a directory.
    ASSERT_TRUE(view_->mkdir(view_->root(), "empty", {}, {}).ok());
    ASSERT_TRUE(view_->rename(id("/usr/lib"), "deep", view_->root(), "empty").ok());
    EXPECT_EQ(read_all(*view_, id("/empty/c.so")), "libc");
}

TEST_F(ViewTest, HardLinkThenCopyUpOfOneName) {
    ObjectId a = id("/usr/lib/a.so");
    EXPECT_EQ(id("/usr/lib/a.so.1"), a);
    EXPECT_EQ(view_->getattr(a)->nlink, 2u);
    ASSERT_TRUE(write_at(*view_, id("/usr/lib/a.so.1"), 0, "LIBA").ok());
    EXPECT_EQ(read_all(*view_, id("/usr/lib/a.so")), "LIBA");
    auto l = view_->link(a, id("/etc"), "a-link");
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->file.nlink, 3u);
    ASSERT_TRUE(view_->remove(id("/usr/lib"), "a.so").ok());
    EXPECT_EQ(view_->getattr(a)->nlink, 2u);
    EXPECT_EQ(read_all(*view_, id("/etc/a-link")), "LIBA");
    EXPECT_EQ(view_->link(id("/etc"), view_->root(), "etc2").error(),
              std::errc::operation_not_permitted);
}

TEST_F(ViewTest, ExclusiveCreateRetransmitGetsTheSameFile) {
    CreateArgs args;
    args.mode = CreateArgs::Mode::kExclusive;
    args.verifier = 0x1234;
    auto first = view_->create(id("/etc"), "lock", args);
    ASSERT_TRUE(first.ok());
    SetAttrArgs a;
    a.mode = 0600;
    ASSERT_TRUE(view_->setattr(first->id, a).ok());
    auto again = view_->create(id("/etc"), "lock", args);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->id, first->id);
    args.verifier = 0x9999;
    EXPECT_EQ(view_->create(id("/etc"), "lock", args).error(), std::errc::file_exists);
    reopen();  // the verifier is persisted
    args.verifier = 0x1234;
    EXPECT_EQ(view_->create(id("/etc"), "lock", args)->id, first->id);
}

TEST_F(ViewTest, SetattrGuardAndTimes) {
    ObjectId host = id("/etc/hostname");
    Attr a = *view_->getattr(host);
    SetAttrArgs s;
    s.mtime_how = SetAttrArgs::TimeHow::kClientTime;
    s.mtime = Time{1000, 999999999};
    Time wrong = a.ctime;
    wrong.nsec ^= 1;
    s.guard_ctime = wrong;
    EXPECT_EQ(view_->setattr(host, s).error(), std::errc::operation_canceled);
    s.guard_ctime = a.ctime;
    auto w = view_->setattr(host, s);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->before->ctime, a.ctime);
    EXPECT_EQ(w->after->mtime, (Time{1000, 999999999}));
    SetAttrArgs dir_size;
    dir_size.size = 0;
    EXPECT_EQ(view_->setattr(id("/etc"), dir_size).error(), std::errc::is_a_directory);
}

TEST_F(ViewTest, ReaddirCookiesResumeAcrossChanges) {
    for (int i = 0; i < 20; ++i) create("/usr/lib", "f" + std::to_string(i));
    auto page = view_->readdir(id("/usr/lib"), 0, 10);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->entries.size(), 10u);
    EXPECT_FALSE(page->eof);
    uint64_t resume = page->entries.back().cookie;
    std::set<std::string> seen;
    for (const auto& e : page->entries) {
        EXPECT_GT(e.cookie, 2u);
        seen.insert(e.name);
    }
    // Changes between pages: remove a seen entry and an unseen one, add one.
    ASSERT_TRUE(view_->remove(id("/usr/lib"), page->entries[0].name).ok());
    auto rest = view_->readdir(id("/usr/lib"), resume, 100);
    ASSERT_TRUE(rest.ok());
    EXPECT_TRUE(rest->eof);
    for (const auto& e : rest->entries) {
        EXPECT_FALSE(seen.count(e.name)) << e.name << " listed twice";
        seen.insert(e.name);
    }
    EXPECT_EQ(seen.size(), 24u);
    // A removed entry's cookie still resumes at the right place.
    auto from_removed = view_->readdir(id("/usr/lib"), page->entries[0].cookie, 100);
    ASSERT_TRUE(from_removed.ok());
    EXPECT_EQ(from_removed->entries.size(), 23u);  // it was the first entry
}

TEST_F(ViewTest, TwoClientsNeverSeeEachOthersChanges) {
    create("/etc", "mine", "1");
    ASSERT_TRUE(write_at(*view_, id("/etc/hostname"), 0, "one").ok());
    ASSERT_TRUE(view_->remove(id("/etc"), "passwd").ok());
    ClientView& b = other();
    EXPECT_FALSE(exists(b, "/etc/mine"));
    EXPECT_TRUE(exists(b, "/etc/passwd"));
    EXPECT_EQ(read_all(b, walk(b, "/etc/hostname")), "raspberrypi\n");
    // Nor each other's handles.
    EXPECT_EQ(b.resolve(view_->handle(id("/etc/hostname")).span()).error(),
              std::errc::bad_file_descriptor);
}

TEST_F(ViewTest, BootFilesWrittenInTheRootViewAreTheBootView) {
    ObjectId kernel = id("/boot/firmware/kernel8.img");
    SetAttrArgs truncate;
    truncate.size = 0;
    ASSERT_TRUE(view_->setattr(kernel, truncate).ok());
    ASSERT_TRUE(write_at(*view_, kernel, 0, "kernel-v2").ok());
    EXPECT_EQ(*view_->lookup(view_->boot_root(), "kernel8.img"), kernel);
    EXPECT_EQ(read_all(*view_, kernel), "kernel-v2");
    auto pristine = store_->image_view("pi");
    ASSERT_TRUE(pristine.ok());
    EXPECT_EQ(read_all(**pristine, *(*pristine)->lookup((*pristine)->boot_root(), "kernel8.img")),
              "kernel-v1");
}

TEST_F(ViewTest, ImageViewIsReadOnly) {
    auto pristine = store_->image_view("pi");
    ASSERT_TRUE(pristine.ok());
    auto& v = const_cast<ClientView&>(**pristine);
    EXPECT_EQ(v.mkdir(v.root(), "x", {}, {}).error(), std::errc::read_only_file_system);
    EXPECT_EQ(v.begin_write(walk(v, "/etc/hostname")).error(), std::errc::read_only_file_system);
    EXPECT_EQ(store_->view(mac(3), "nope").error(), std::errc::no_such_file_or_directory);
}

TEST_F(ViewTest, QuotaAnswersEdquotAndKeepsStateWhole) {
    quota_ = 64 * 1024;
    reopen();
    NewObject f = create("/etc", "big");
    std::string chunk(16 * 1024, 'x');
    uint64_t offset = 0;
    std::error_code last;
    for (int i = 0; i < 10; ++i) {
        auto r = write_at(*view_, f.id, offset, chunk);
        if (!r.ok()) {
            last = r.error();
            break;
        }
        offset += chunk.size();
    }
    EXPECT_EQ(last, errno_error(EDQUOT));
    EXPECT_EQ(view_->getattr(f.id)->size, offset);
    EXPECT_EQ(read_all(*view_, f.id), std::string(offset, 'x'));
    EXPECT_LE(view_->fsstat().avail_bytes, 64u * 1024);
    // Removing frees space again.
    ASSERT_TRUE(view_->remove(id("/etc"), "big").ok());
    create("/etc", "small", "fits");
    reopen();
    EXPECT_EQ(read_all(*view_, id("/etc/small")), "fits");
}

TEST_F(ViewTest, QuotaRefusalKeepsTheDataOfAWriteStillInFlight) {
    // Two WRITEs of one file in flight at once (the Linux client sends them in parallel):
    // both land in the data file, then the second one to end is over quota. Refusing it must
    // not cut the bytes of the first, whose end_write comes later and succeeds.
    quota_ = 64 * 1024;
    reopen();
    NewObject f = create("/etc", "parallel");
    auto target = view_->begin_write(f.id);
    ASSERT_TRUE(target.ok());
    std::string a(16 * 1024, 'a'), b(60 * 1024, 'b');
    int fd = target->file->fd();
    ASSERT_EQ(::pwrite(fd, a.data(), a.size(), 0), ssize_t(a.size()));
    ASSERT_EQ(::pwrite(fd, b.data(), b.size(), a.size()), ssize_t(b.size()));
    EXPECT_EQ(view_->end_write(f.id, a.size(), b.size(), true).error(), errno_error(EDQUOT));
    ASSERT_TRUE(view_->end_write(f.id, 0, a.size(), true).ok());
    EXPECT_TRUE(read_all(*view_, f.id) == a) << "the first write's bytes were lost";
    // The refused bytes are gone: growing the file shows zeros there.
    SetAttrArgs grow;
    grow.size = a.size() + 100;
    ASSERT_TRUE(view_->setattr(f.id, grow).ok());
    EXPECT_TRUE(read_all(*view_, f.id) == a + std::string(100, '\0'));
}

TEST_F(ViewTest, UnstableWritesBecomeStableOnCommit) {
    NewObject f = create("/etc", "log");
    ASSERT_TRUE(write_at(*view_, f.id, 0, "abc", false).ok());
    ASSERT_TRUE(write_at(*view_, f.id, 3, "def", false).ok());
    EXPECT_EQ(read_all(*view_, f.id), "abcdef");
    ASSERT_TRUE(view_->commit(f.id).ok());
    reopen();
    EXPECT_EQ(read_all(*view_, id("/etc/log")), "abcdef");
}

TEST_F(ViewTest, NamesAreChecked) {
    CreateArgs args;
    EXPECT_EQ(view_->create(view_->root(), std::string(256, 'n'), args).error(),
              std::errc::filename_too_long);
    EXPECT_EQ(view_->create(view_->root(), "a/b", args).error(), std::errc::invalid_argument);
    EXPECT_EQ(view_->mkdir(view_->root(), "..", {}, {}).error(), std::errc::invalid_argument);
    EXPECT_EQ(view_->remove(view_->root(), "etc").error(), std::errc::is_a_directory);
    EXPECT_EQ(view_->rmdir(id("/etc"), "hostname").error(), std::errc::not_a_directory);
}

TEST_F(ViewTest, DiffListsWhatTheClientChanged) {
    create("/etc", "motd", "hi");
    ASSERT_TRUE(write_at(*view_, id("/etc/hostname"), 0, "x").ok());
    ASSERT_TRUE(view_->remove(id("/etc"), "passwd").ok());
    SetAttrArgs a;
    a.mode = 0700;
    ASSERT_TRUE(view_->setattr(id("/usr/bin/sudo"), a).ok());
    auto d = store_->diff(mac(1));
    ASSERT_TRUE(d.ok());
    std::vector<std::string> got;
    for (const auto& c : *d) got.push_back(std::string(1, c.kind) + " " + c.path);
    EXPECT_EQ(got, (std::vector<std::string>{"M /etc/hostname", "A /etc/motd", "D /etc/passwd",
                                             "M /usr/bin/sudo"}));
    EXPECT_TRUE(store_->diff(mac(9))->empty());
}

}  // namespace
}  // namespace rootfarm::store
