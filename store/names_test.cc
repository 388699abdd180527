// READDIR cookies (names.h): their range, and listings of directories whose names collide, from
// the image, from the client and both, before and after a restart.

#include "store/names.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/names_test_util.h"
#include "store/store.h"
#include "store/test_util.h"
#include "store/view.h"

namespace rootfarm::store {
namespace {

using namespace testing;

constexpr uint64_t k2To63 = uint64_t{1} << 63;

uint64_t zero_name_hash(std::string_view) {
    return 0;
}

TEST(NamesTest, CookiesFitASignedOffsetAndLeaveTheFirstThreeFree) {
    for (NameHashFn fn : {&xxh3_name_hash, &four_name_hashes, &one_name_hash, &zero_name_hash}) {
        ScopedNameHash scoped(fn);
        for (int i = 0; i < 1000; ++i) {
            uint64_t hash = name_hash("n" + std::to_string(i));
            for (uint64_t rank :
                 {uint64_t{0}, uint64_t{1}, kMaxCookieRank - 1, kMaxCookieRank, uint64_t{1000}}) {
                uint64_t cookie = entry_cookie(hash, rank);
                EXPECT_LT(cookie, k2To63);
                EXPECT_GT(cookie, 2u);
                CookiePosition p = cookie_position(cookie);
                EXPECT_EQ(p.hash, hash);
                EXPECT_EQ(p.rank, rank < kMaxCookieRank ? rank : UINT64_MAX);
            }
        }
    }
}

// What a client sees of a listing: names and their cookies, in order.
using Listed = std::vector<std::pair<std::string, uint64_t>>;

// Pages through `dir` `page` entries at a time, each call resuming from the last cookie.
Listed list_paged(const ClientView& v, ObjectId dir, size_t page) {
    Listed out;
    uint64_t cookie = 0;
    for (int calls = 0; calls < 100000; ++calls) {
        Result<DirPage> p = v.readdir(dir, cookie, page);
        if (!p.ok()) {
            ADD_FAILURE() << "readdir: " << p.error().message();
            return out;
        }
        for (const DirEntry& e : p->entries) {
            out.emplace_back(e.name, e.cookie);
            cookie = e.cookie;
        }
        if (p->eof || p->entries.empty()) return out;
    }
    ADD_FAILURE() << "the listing never ends";
    return out;
}

// `dir` lists exactly `names`, each once however it is paged, and each finds its own object by
// name; the cookies are distinct, fit a signed directory offset and leave 0, 1 and 2 free; and a
// listing resumed from any cookie goes on with the entries after it.
Listed check_listing(const ClientView& v, ObjectId dir, const std::set<std::string>& names) {
    Listed all = list_paged(v, dir, 1000000);
    std::set<std::string> seen;
    std::set<uint64_t> cookies;
    for (const auto& [name, cookie] : all) {
        EXPECT_TRUE(seen.insert(name).second) << name << " listed twice";
        EXPECT_TRUE(cookies.insert(cookie).second) << name << " shares cookie " << cookie;
        EXPECT_LT(cookie, k2To63) << name;
        EXPECT_GT(cookie, 2u) << name;
    }
    EXPECT_EQ(seen, names);
    for (size_t page : {1, 2, 7}) EXPECT_EQ(list_paged(v, dir, page), all) << "pages of " << page;
    for (size_t i = 0; i < all.size(); ++i) {
        Result<DirPage> rest = v.readdir(dir, all[i].second, all.size());
        if (!rest.ok()) {
            ADD_FAILURE() << "readdir: " << rest.error().message();
            return all;
        }
        EXPECT_TRUE(rest->eof);
        Listed after;
        for (const DirEntry& e : rest->entries) {
            after.emplace_back(e.name, e.cookie);
            EXPECT_EQ(*v.lookup(dir, e.name), e.id) << e.name;
        }
        EXPECT_EQ(after, Listed(all.begin() + static_cast<ptrdiff_t>(i) + 1, all.end()))
            << "resumed after " << all[i].first;
    }
    return all;
}

std::set<std::string> numbered(const std::string& prefix, int n) {
    std::set<std::string> names;
    for (int i = 0; i < n; ++i) names.insert(prefix + std::to_string(i));
    return names;
}

class CookieTest : public ::testing::Test {
  protected:
    void SetUp() override {
        write_file(image() / "root/etc/hostname", "raspberrypi\n");
        write_file(image() / "boot/config.txt", "arm_64bit=1\n");
    }

    std::filesystem::path image() const { return dir_.path() / "images" / "pi"; }
    void add_image_files(const std::string& dir, const std::set<std::string>& names) {
        for (const std::string& name : names) write_file(image() / "root" / dir / name, name);
    }

    void open() { reopen_store(dir_.path(), store_, view_); }

    ObjectId id(std::string_view path) { return walk(*view_, path); }
    void create(std::string_view dir, const std::string& name) {
        auto r = view_->create(id(dir), name, CreateArgs{});
        ASSERT_TRUE(r.ok()) << name << ": " << r.error().message();
    }
    void remove(std::string_view dir, const std::string& name) {
        auto r = view_->remove(id(dir), name);
        ASSERT_TRUE(r.ok()) << name << ": " << r.error().message();
    }

    TempDir dir_;
    std::optional<ScopedNameHash> hash_;  // outlives the store
    std::unique_ptr<Store> store_;
    std::shared_ptr<ClientView> view_;
};

TEST_F(CookieTest, ImageCookiesFitASignedOffset) {
    std::set<std::string> names = numbered("f", 2000);
    add_image_files("many", names);
    open();
    check_listing(*view_, id("/many"), names);
}

TEST_F(CookieTest, CollidingImageNamesAreEachListedOnceAndResumable) {
    hash_.emplace(&four_name_hashes);
    std::set<std::string> names = numbered("f", 200);
    add_image_files("many", names);
    open();
    Listed before = check_listing(*view_, id("/many"), names);
    open();
    EXPECT_EQ(check_listing(*view_, id("/many"), names), before);
}

TEST_F(CookieTest, CollidingClientNamesAreEachListedOnceAndResumable) {
    hash_.emplace(&four_name_hashes);
    open();
    ASSERT_TRUE(view_->mkdir(view_->root(), "new", {}, {}).ok());
    std::set<std::string> names = numbered("c", 200);
    for (const std::string& name : names) create("/new", name);
    Listed before = check_listing(*view_, id("/new"), names);
    open();
    EXPECT_EQ(check_listing(*view_, id("/new"), names), before);
}

TEST_F(CookieTest, CollidingImageAndClientNamesSurviveRestartAndCompaction) {
    hash_.emplace(&four_name_hashes);
    std::set<std::string> names = numbered("i", 100);
    add_image_files("mixed", names);
    open();
    for (int i = 0; i < 100; ++i) {
        std::string name = "c" + std::to_string(i);
        create("/mixed", name);
        names.insert(name);
    }
    for (int i = 0; i < 100; i += 5) {
        for (std::string name : {"i" + std::to_string(i), "c" + std::to_string(i)}) {
            remove("/mixed", name);  // a whiteout over an image name; a client name gone
            names.erase(name);
        }
    }
    for (int i = 1; i < 100; i += 10) {  // another object under an image name
        remove("/mixed", "i" + std::to_string(i));
        create("/mixed", "i" + std::to_string(i));
    }
    ASSERT_TRUE(view_->rename(id("/mixed"), "i2", id("/mixed"), "moved").ok());
    names.erase("i2");
    names.insert("moved");
    Listed before = check_listing(*view_, id("/mixed"), names);
    open();
    EXPECT_EQ(check_listing(*view_, id("/mixed"), names), before);
    auto* impl = dynamic_cast<ClientViewImpl*>(view_.get());
    ASSERT_TRUE(impl);
    ASSERT_TRUE(impl->compact().ok());
    open();
    EXPECT_EQ(check_listing(*view_, id("/mixed"), names), before);
}

TEST_F(CookieTest, TheLargestHashStillFitsASignedOffset) {
    hash_.emplace(&one_name_hash);
    std::set<std::string> names = numbered("f", 100);
    add_image_files("many", names);
    open();
    check_listing(*view_, id("/many"), names);
}

TEST_F(CookieTest, CookiesOfOtherNamesSurviveChanges) {
    std::set<std::string> names = numbered("f", 50);
    add_image_files("many", names);
    open();
    Listed before = list_paged(*view_, id("/many"), 1000);
    for (int i = 0; i < 50; i += 2) {
        remove("/many", "f" + std::to_string(i));
        create("/many", "g" + std::to_string(i));
    }
    std::map<std::string, uint64_t> now;
    for (const auto& [name, cookie] : list_paged(*view_, id("/many"), 1000)) now[name] = cookie;
    for (const auto& [name, cookie] : before) {
        if (now.count(name)) {
            EXPECT_EQ(now[name], cookie) << name;
        }
    }
    EXPECT_EQ(now.size(), 50u);
}

// More names of one hash than there are ranks (names.h): a listing paused among those that
// share the last rank's cookie skips the rest of them, but never lists a name twice.
TEST_F(CookieTest, BeyondTheLastRankAListingNeverRepeats) {
    hash_.emplace(&one_name_hash);
    std::set<std::string> names = numbered("f", 300);
    add_image_files("many", names);
    open();
    EXPECT_EQ(list_paged(*view_, id("/many"), 1000).size(), 300u);
    Listed paged = list_paged(*view_, id("/many"), 10);
    std::set<std::string> seen;
    for (const auto& [name, cookie] : paged) {
        EXPECT_TRUE(seen.insert(name).second) << name << " listed twice";
    }
    EXPECT_GT(seen.size(), kMaxCookieRank);
}

}  // namespace
}  // namespace rootfarm::store
