// Restarts, resets, damaged journals and handles.

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "store/handle.h"
#include "store/store.h"
#include "store/test_util.h"
#include "store/view.h"

namespace rootfarm::store {
namespace {

using namespace testing;

// Everything a client can observe: path -> (id, handle, cookie, type, mode, uid, size, data).
using Snapshot = std::map<std::string, std::string>;

void capture(const ClientView& v, ObjectId dir, const std::string& path, bool handles,
             Snapshot& out) {
    uint64_t cookie = 0;
    for (;;) {
        auto page = v.readdir(dir, cookie, 7);
        ASSERT_TRUE(page.ok());
        for (const DirEntry& e : page->entries) {
            cookie = e.cookie;
            Attr a = *v.getattr(e.id);
            Handle h = v.handle(e.id);
            std::string line =
                std::to_string(e.id) + " " + std::to_string(e.cookie) + " " +
                (handles ? std::string(h.bytes.begin(), h.bytes.begin() + h.size) : std::string()) +
                " " + std::to_string(static_cast<int>(a.type)) + " " + std::to_string(a.mode) +
                " " + std::to_string(a.uid) + " " + std::to_string(a.nlink) + " " +
                std::to_string(a.size) + " " + std::to_string(a.mtime.sec) + "." +
                std::to_string(a.mtime.nsec);
            if (a.type == FileType::kRegular) line += " " + read_all(v, e.id);
            if (a.type == FileType::kSymlink) line += " " + *v.readlink(e.id);
            std::string child = path + "/" + e.name;
            out[child] = line;
            if (a.type == FileType::kDirectory) capture(v, e.id, child, handles, out);
        }
        if (page->eof) return;
    }
}

// With handles, for one client over time; without, to compare clients (or a client before and
// after a reset), whose handles differ by design.
Snapshot capture(const ClientView& v, bool handles = true) {
    Snapshot s;
    capture(v, v.root(), "", handles, s);
    return s;
}

class PersistenceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto image = dir_.path() / "images" / "pi";
        write_file(image / "root/etc/hostname", "raspberrypi\n");
        write_file(image / "root/usr/lib/a.so", "liba");
        write_file(image / "root/usr/lib/deep/c.so", "libc");
        write_file(image / "boot/cmdline.txt", "root=/dev/nfs\n");
        open();
    }

    // Stops serving: the store and both views go.
    void close() {
        a_.reset();
        b_.reset();
        store_.reset();
    }

    StoreOptions options() const {
        StoreOptions o;
        o.state_dir = dir_.path();
        return o;
    }

    void open() {
        close();
        auto s = Store::open(options());
        ASSERT_TRUE(s.ok()) << s.error().message();
        store_ = std::move(*s);
        a_ = *store_->view(mac(1), "pi");
        b_ = *store_->view(mac(2), "pi");
    }

    // A bit of everything, in client a's view.
    void churn() {
        ClientView& v = *a_;
        ObjectId etc = walk(v, "/etc");
        CreateArgs args;
        args.owner = {1000, 100};
        auto f = v.create(etc, "motd", args);
        ASSERT_TRUE(f.ok());
        ASSERT_TRUE(write_at(v, f->id, 0, "welcome").ok());
        ASSERT_TRUE(write_at(v, walk(v, "/etc/hostname"), 0, "PI").ok());
        ASSERT_TRUE(v.mkdir(etc, "ssh", {}, {}).ok());
        ASSERT_TRUE(v.symlink(walk(v, "/etc/ssh"), "key", "/dev/null", {}, {}).ok());
        ASSERT_TRUE(v.rename(walk(v, "/usr"), "lib", v.root(), "lib").ok());
        ASSERT_TRUE(v.remove(walk(v, "/lib/deep"), "c.so").ok());
        ASSERT_TRUE(v.link(walk(v, "/lib/a.so"), etc, "a-link").ok());
        SetAttrArgs s;
        s.mode = 04711;
        ASSERT_TRUE(v.setattr(walk(v, "/lib/a.so"), s).ok());
        ASSERT_TRUE(v.mknod(etc, "null", FileType::kChar, 1, 3, {}, {}).ok());
        ASSERT_TRUE(write_at(v, walk(v, "/boot/firmware/cmdline.txt"), 14, " quiet").ok());
    }

    TempDir dir_;
    std::unique_ptr<Store> store_;
    std::shared_ptr<ClientView> a_, b_;
};

TEST_F(PersistenceTest, ReopenKeepsEveryIdHandleCookieAndByte) {
    churn();
    Snapshot before = capture(*a_);
    std::map<std::string, Handle> handles;
    for (const char* p : {"/etc/motd", "/etc/hostname", "/lib/deep", "/etc/ssh/key"}) {
        handles[p] = a_->handle(walk(*a_, p));
    }
    open();
    EXPECT_EQ(capture(*a_), before);
    for (const auto& [path, h] : handles) {
        auto id = a_->resolve(h.span());
        ASSERT_TRUE(id.ok()) << path;
        EXPECT_EQ(*id, walk(*a_, path));
    }
    EXPECT_EQ(read_all(*a_, walk(*a_, "/boot/firmware/cmdline.txt")), "root=/dev/nfs\n quiet");
}

TEST_F(PersistenceTest, CompactionKeepsTheStateAndNewIdsStayNew) {
    churn();
    Snapshot before = capture(*a_);
    auto* impl = dynamic_cast<ClientViewImpl*>(a_.get());
    ASSERT_TRUE(impl);
    ASSERT_TRUE(impl->compact().ok());
    auto journal = dir_.path() / "clients" / mac(1).dashed() / "journal";
    EXPECT_EQ(std::filesystem::file_size(journal), 8u);  // just the header
    open();
    EXPECT_EQ(capture(*a_), before);
    // Ids handed out before compaction are never handed out again.
    ObjectId motd = walk(*a_, "/etc/motd");
    ASSERT_TRUE(a_->remove(walk(*a_, "/etc"), "motd").ok());
    auto f = a_->create(walk(*a_, "/etc"), "motd2", {});
    ASSERT_TRUE(f.ok());
    EXPECT_GT(f->id, motd);
}

TEST_F(PersistenceTest, DeletingTheClientDirectoryResetsIt) {
    churn();
    Handle h = a_->handle(walk(*a_, "/etc/motd"));
    Handle lower = a_->handle(walk(*a_, "/etc/hostname"));
    Snapshot pristine = capture(*b_, false);
    close();
    std::filesystem::remove_all(dir_.path() / "clients" / mac(1).dashed());
    open();
    EXPECT_EQ(capture(*a_, false), pristine);
    EXPECT_EQ(a_->resolve(h.span()).error(), errno_error(ESTALE));
    EXPECT_EQ(a_->resolve(lower.span()).error(), errno_error(ESTALE));
}

TEST_F(PersistenceTest, ResetWhileServing) {
    Snapshot pristine = capture(*a_, false);
    churn();
    ASSERT_TRUE(write_at(*b_, walk(*b_, "/etc/hostname"), 0, "B").ok());
    Snapshot b_before = capture(*b_);
    Handle old_root = a_->handle(a_->root());
    Handle old_motd = a_->handle(walk(*a_, "/etc/motd"));
    ObjectId motd = walk(*a_, "/etc/motd");
    std::shared_ptr<ClientView> held = a_;  // nfsd keeps its pointer
    ASSERT_TRUE(store_->reset(mac(1)).ok());
    EXPECT_EQ(held->resolve(old_root.span()).error(), errno_error(ESTALE));
    EXPECT_EQ(held->resolve(old_motd.span()).error(), errno_error(ESTALE));
    EXPECT_EQ(held->getattr(motd).error(), errno_error(ESTALE));
    EXPECT_EQ(capture(*held, false), pristine);
    EXPECT_EQ(held.get(), store_->view(mac(1), "pi")->get());
    // Handles issued now work, and the other client kept everything.
    EXPECT_EQ(*held->resolve(held->handle(held->root()).span()), held->root());
    EXPECT_EQ(capture(*b_), b_before);
    // Ids are not reused after a reset.
    auto f = held->create(held->root(), "new", {});
    ASSERT_TRUE(f.ok());
    EXPECT_GT(f->id, motd);
    ASSERT_TRUE(held->remove(held->root(), "new").ok());
    // Pristine still after a restart.
    open();
    EXPECT_EQ(capture(*a_, false), pristine);
}

TEST_F(PersistenceTest, CorruptedJournalTailIsCutAtTheLastGoodRecord) {
    ClientView& v = *a_;
    ObjectId etc = walk(v, "/etc");
    ASSERT_TRUE(v.mkdir(etc, "one", {}, {}).ok());
    auto journal = dir_.path() / "clients" / mac(1).dashed() / "journal";
    auto good = std::filesystem::file_size(journal);
    ASSERT_TRUE(v.mkdir(etc, "two", {}, {}).ok());
    auto full = std::filesystem::file_size(journal);
    close();
    // Damage the last record's payload: the checksum no longer matches.
    {
        std::fstream f(journal, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(full - 2));
        f.put('\x5a');
    }
    open();
    EXPECT_TRUE(exists(*a_, "/etc/one"));
    EXPECT_FALSE(exists(*a_, "/etc/two"));
    EXPECT_EQ(std::filesystem::file_size(journal), good);
    // And the journal goes on from there.
    ASSERT_TRUE(a_->mkdir(walk(*a_, "/etc"), "three", {}, {}).ok());
    open();
    EXPECT_TRUE(exists(*a_, "/etc/one"));
    EXPECT_TRUE(exists(*a_, "/etc/three"));
}

TEST_F(PersistenceTest, ForgedTruncatedAndForeignHandlesAreRejected) {
    ObjectId host = walk(*a_, "/etc/hostname");
    Handle h = a_->handle(host);
    EXPECT_LE(h.size, 64u);
    ASSERT_EQ(*a_->resolve(h.span()), host);
    for (size_t i = 0; i < h.size; ++i) {
        for (uint8_t bit : {0x01, 0x80}) {
            Handle f = h;
            f.bytes[i] ^= bit;
            EXPECT_EQ(a_->resolve(f.span()).error(), std::errc::bad_file_descriptor)
                << "byte " << i;
        }
    }
    for (size_t n = 0; n < h.size; ++n) {
        EXPECT_EQ(a_->resolve(std::span(h.bytes.data(), n)).error(),
                  std::errc::bad_file_descriptor);
    }
    std::vector<uint8_t> longer(h.bytes.begin(), h.bytes.begin() + h.size);
    longer.push_back(0);
    EXPECT_EQ(a_->resolve(longer).error(), std::errc::bad_file_descriptor);
    // Same object, another client: the tag binds the handle to its client.
    EXPECT_EQ(b_->resolve(h.span()).error(), std::errc::bad_file_descriptor);
    // A forged handle for another object id, with the old tag.
    Handle other = h;
    other.bytes[6] ^= 0x02;
    EXPECT_EQ(a_->resolve(other.span()).error(), std::errc::bad_file_descriptor);
    // The secret survives restarts: so do handles.
    open();
    EXPECT_EQ(*a_->resolve(h.span()), host);
}

TEST_F(PersistenceTest, HandleOfRemovedObjectIsStale) {
    ObjectId host = walk(*a_, "/etc/hostname");
    Handle h = a_->handle(host);
    ASSERT_TRUE(a_->remove(walk(*a_, "/etc"), "hostname").ok());
    EXPECT_EQ(a_->resolve(h.span()).error(), errno_error(ESTALE));
    EXPECT_EQ(*b_->resolve(b_->handle(host).span()), host);
}

TEST_F(PersistenceTest, DiffOfAClientNotBeingServed) {
    churn();
    auto live = store_->diff(mac(1));
    ASSERT_TRUE(live.ok());
    close();
    auto s = Store::open(options());
    ASSERT_TRUE(s.ok());
    auto d = (*s)->diff(mac(1));
    ASSERT_TRUE(d.ok());
    ASSERT_EQ(d->size(), live->size());
    for (size_t i = 0; i < d->size(); ++i) {
        EXPECT_EQ((*d)[i].kind, (*live)[i].kind);
        EXPECT_EQ((*d)[i].path, (*live)[i].path);
    }
    EXPECT_FALSE(d->empty());
}

TEST_F(PersistenceTest, SwitchImageKeepingOrDroppingTheDelta) {
    // A new version of the image, its ids carried over from the old one (as the importer does).
    std::filesystem::copy(dir_.path() / "images/pi", dir_.path() / "images/pi2",
                          std::filesystem::copy_options::recursive);
    write_file(dir_.path() / "images/pi2/root/etc/issue", "v2\n");
    std::filesystem::copy_file(dir_.path() / "index/pi.ids", dir_.path() / "index/pi2.ids");
    churn();
    ObjectId motd = walk(*a_, "/etc/motd");
    Handle motd_handle = a_->handle(motd);
    Handle b_handle = b_->handle(walk(*b_, "/etc/hostname"));
    ASSERT_TRUE(write_at(*b_, walk(*b_, "/etc/hostname"), 0, "B").ok());

    ASSERT_TRUE(store_->switch_image(mac(1), "pi2", true).ok());
    EXPECT_EQ(a_->image(), "pi2");
    EXPECT_EQ(read_all(*a_, walk(*a_, "/etc/motd")), "welcome");
    EXPECT_EQ(read_all(*a_, walk(*a_, "/etc/issue")), "v2\n");
    EXPECT_EQ(*a_->resolve(motd_handle.span()), motd);
    EXPECT_EQ(store_->view(mac(1), "pi").error(), std::errc::cross_device_link);

    ASSERT_TRUE(store_->switch_image(mac(2), "pi2", false).ok());
    EXPECT_EQ(read_all(*b_, walk(*b_, "/etc/hostname")), "raspberrypi\n");
    EXPECT_EQ(b_->resolve(b_handle.span()).error(), errno_error(ESTALE));
    EXPECT_TRUE(exists(*b_, "/etc/issue"));

    // Both stick across a restart; a switch of a client not being served works too.
    close();
    store_ = Store::open(options()).value();
    auto a = store_->view(mac(1), "pi2");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(read_all(**a, walk(**a, "/etc/motd")), "welcome");
    a->reset();
    store_.reset();
    store_ = Store::open(options()).value();
    ASSERT_TRUE(store_->switch_image(mac(1), "pi", false).ok());
    EXPECT_EQ(store_->switch_image(mac(1), "nope", false).error(),
              std::errc::no_such_file_or_directory);
    auto back = store_->view(mac(1), "pi");
    ASSERT_TRUE(back.ok());
    EXPECT_FALSE(exists(**back, "/etc/motd"));
}

// Nobody copied the ids: switch_image with a kept delta carries them over itself, so the
// client's own /etc/hostname (copied up on "pi") is still its own, with the same fileid, on the
// new version, even when the client asked for the new image (EXDEV) before it was moved.
TEST_F(PersistenceTest, KeptDeltaCarriesIdsToANewImage) {
    std::filesystem::copy(dir_.path() / "images/pi", dir_.path() / "images/pi2",
                          std::filesystem::copy_options::recursive);
    write_file(dir_.path() / "images/pi2/root/etc/issue", "v2\n");
    for (const char* p : {"a0", "a1", "bin/a", "etc/a", "etc/b", "usr/a"}) {
        write_file(dir_.path() / "images/pi2/root" / p, "new in v2\n");
    }
    ObjectId hostname = walk(*a_, "/etc/hostname");
    Handle handle = a_->handle(hostname);
    ASSERT_TRUE(write_at(*a_, hostname, 0, "MINE").ok());
    ASSERT_TRUE(a_->create(walk(*a_, "/etc"), "motd", {}).ok());
    close();
    store_ = Store::open(options()).value();
    EXPECT_EQ(store_->view(mac(1), "pi2").error(), std::errc::cross_device_link);
    EXPECT_EQ(store_->delta_image(mac(1)).value(), "pi");
    ASSERT_TRUE(store_->switch_image(mac(1), "pi2", true).ok());
    EXPECT_EQ(store_->delta_image(mac(1)).value(), "pi2");
    auto a = store_->view(mac(1), "pi2");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(walk(**a, "/etc/hostname"), hostname);
    EXPECT_EQ((*a)->resolve(handle.span()).value(), hostname);
    EXPECT_EQ(read_all(**a, hostname), "MINEberrypi\n");
    EXPECT_TRUE(exists(**a, "/etc/motd"));
    EXPECT_EQ(read_all(**a, walk(**a, "/etc/issue")), "v2\n");
    EXPECT_TRUE(std::filesystem::exists(dir_.path() / "images/pi/root/etc/hostname"));
}

// The new version was indexed before this client moved (a new Pi booted on it first): its ids
// were seeded from the newest image's, so the kept delta still lands on the same paths. A path
// whose type changed between the versions is a new object there: the client's change to the
// old file does not apply to the new directory.
TEST_F(PersistenceTest, KeptDeltaFindsItsPathsWhenTheNewImageWasIndexedFirst) {
    std::filesystem::copy(dir_.path() / "images/pi", dir_.path() / "images/pi2",
                          std::filesystem::copy_options::recursive);
    std::filesystem::remove(dir_.path() / "images/pi2/root/usr/lib/a.so");
    std::filesystem::create_directories(dir_.path() / "images/pi2/root/usr/lib/a.so");
    for (const char* p : {"a0", "a1", "bin/a", "etc/a", "etc/b", "usr/a"}) {
        write_file(dir_.path() / "images/pi2/root" / p, "new in v2\n");
    }
    ObjectId hostname = walk(*a_, "/etc/hostname");
    ObjectId lib = walk(*a_, "/usr/lib/a.so");
    ASSERT_TRUE(write_at(*a_, hostname, 0, "MINE").ok());
    ASSERT_TRUE(write_at(*a_, lib, 0, "mine").ok());
    close();
    store_ = Store::open(options()).value();
    auto newcomer = store_->view(mac(3), "pi2");
    ASSERT_TRUE(newcomer.ok());
    EXPECT_EQ(walk(**newcomer, "/etc/hostname"), hostname);

    ASSERT_TRUE(store_->switch_image(mac(1), "pi2", true).ok());
    auto a = store_->view(mac(1), "pi2");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(read_all(**a, walk(**a, "/etc/hostname")), "MINEberrypi\n");
    ObjectId dir = walk(**a, "/usr/lib/a.so");
    EXPECT_NE(dir, lib);
    EXPECT_EQ((*a)->getattr(dir).value().type, FileType::kDirectory);
}

}  // namespace
}  // namespace rootfarm::store
