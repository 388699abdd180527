// Generated files (store.h GeneratedFile): written into a client's view without touching the
// image, until the client changes them itself. The generator here is a stand-in for the
// identity files of clients/identity.h.

#include <gtest/gtest.h>

#include "store/store.h"
#include "store/test_util.h"

namespace rootfarm::store {
namespace {

using namespace testing;

constexpr std::string_view kImageHosts =
    "127.0.0.1\tlocalhost\n"
    "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
    "\n"
    "127.0.1.1\t\traspberrypi\n";

// The image's /etc/hosts with its host name replaced.
std::string hosts_with_hostname(std::string_view hosts, std::string_view hostname) {
    std::string out(hosts);
    const std::string_view image_name = "raspberrypi";
    if (size_t at = out.find(image_name); at != std::string::npos) {
        out.replace(at, image_name.size(), hostname);
    }
    return out;
}

std::vector<GeneratedFile> identity_files(std::string_view hostname) {
    std::string name(hostname);
    return {
        {"/etc/hostname",
         [name](std::string_view) -> std::optional<std::string> { return name + "\n"; }},
        {"/etc/hosts",
         [name](std::string_view image) -> std::optional<std::string> {
             return hosts_with_hostname(image, name);
         }},
    };
}

class GenerateTest : public ::testing::Test {
  protected:
    void SetUp() override {
        image_ = dir_.path() / "images" / "pi";
        write_file(image_ / "root/etc/hostname", "raspberrypi\n");
        write_file(image_ / "root/etc/hosts", kImageHosts);
        write_file(image_ / "boot/config.txt", "arm_64bit=1\n");
        reopen();
    }

    void reopen() {
        view_.reset();
        store_.reset();
        StoreOptions o;
        o.state_dir = dir_.path();
        auto s = Store::open(o);
        ASSERT_TRUE(s.ok()) << s.error().message();
        store_ = std::move(*s);
        auto v = store_->view(mac(1), "pi");
        ASSERT_TRUE(v.ok()) << v.error().message();
        view_ = *v;
    }

    size_t mount_as(std::string_view hostname) {
        Result<size_t> n = view_->generate(identity_files(hostname));
        EXPECT_TRUE(n.ok()) << n.error().message();
        return n.ok() ? *n : 0;
    }

    std::string read(std::string_view path) { return read_all(*view_, walk(*view_, path)); }

    TempDir dir_;
    std::filesystem::path image_;
    std::unique_ptr<Store> store_;
    std::shared_ptr<ClientView> view_;
};

TEST_F(GenerateTest, EachClientSeesItsOwnNameAndTheImageIsUntouched) {
    EXPECT_EQ(mount_as("pi-1234abcd"), 2u);
    EXPECT_EQ(read("/etc/hostname"), "pi-1234abcd\n");
    EXPECT_EQ(read("/etc/hosts"), hosts_with_hostname(kImageHosts, "pi-1234abcd"));

    auto other = store_->view(mac(2), "pi");
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE((*other)->generate(identity_files("kitchen")).ok());
    EXPECT_EQ(read_all(**other, walk(**other, "/etc/hostname")), "kitchen\n");
    EXPECT_EQ(read("/etc/hostname"), "pi-1234abcd\n");

    std::ifstream golden(image_ / "root/etc/hostname");
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(golden), {}), "raspberrypi\n");
    auto pristine = store_->image_view("pi");
    ASSERT_TRUE(pristine.ok());
    EXPECT_EQ(read_all(**pristine, walk(**pristine, "/etc/hostname")), "raspberrypi\n");
}

TEST_F(GenerateTest, GeneratedFilesAreNotTheClientsChanges) {
    mount_as("pi-1234abcd");
    auto changes = store_->diff(mac(1));
    ASSERT_TRUE(changes.ok());
    EXPECT_TRUE(changes->empty());
    // The attributes say the file changed, so a client's cache sees the new name.
    Attr a = *view_->getattr(walk(*view_, "/etc/hostname"));
    EXPECT_EQ(a.size, std::string("pi-1234abcd\n").size());
    EXPECT_EQ(a.mode, 0644u);
}

TEST_F(GenerateTest, SurvivesARestartAndANewNameReplacesTheOld) {
    mount_as("pi-1234abcd");
    reopen();
    EXPECT_EQ(read("/etc/hostname"), "pi-1234abcd\n");
    EXPECT_EQ(mount_as("pi-1234abcd"), 0u);  // already up to date: nothing written
    EXPECT_EQ(mount_as("kitchen"), 2u);
    EXPECT_EQ(read("/etc/hostname"), "kitchen\n");
    EXPECT_EQ(read("/etc/hosts"), hosts_with_hostname(kImageHosts, "kitchen"));
}

TEST_F(GenerateTest, AFileTheClientWroteIsItsOwn) {
    mount_as("pi-1234abcd");
    ObjectId hostname = walk(*view_, "/etc/hostname");
    ASSERT_TRUE(write_at(*view_, hostname, 0, "mybox\n\n\n\n\n\n\n").ok());
    SetAttrArgs truncate;
    truncate.size = 6;
    ASSERT_TRUE(view_->setattr(hostname, truncate).ok());
    EXPECT_EQ(mount_as("kitchen"), 1u);  // /etc/hosts only
    EXPECT_EQ(read("/etc/hostname"), "mybox\n");
    auto changes = store_->diff(mac(1));
    ASSERT_TRUE(changes.ok());
    ASSERT_EQ(changes->size(), 1u);
    EXPECT_EQ((*changes)[0].path, "/etc/hostname");
}

TEST_F(GenerateTest, AChmodMakesItTheClientsToo) {
    mount_as("pi-1234abcd");
    SetAttrArgs chmod;
    chmod.mode = 0600;
    ASSERT_TRUE(view_->setattr(walk(*view_, "/etc/hosts"), chmod).ok());
    mount_as("kitchen");
    EXPECT_EQ(read("/etc/hosts"), hosts_with_hostname(kImageHosts, "pi-1234abcd"));
}

TEST_F(GenerateTest, AReplacedOrRemovedFileStaysTheClients) {
    mount_as("pi-1234abcd");
    ObjectId etc = walk(*view_, "/etc");
    // hostnamectl and sed -i write a new file and rename it over the old one.
    CreateArgs args;
    auto made = view_->create(etc, "hostname.new", args);
    ASSERT_TRUE(made.ok());
    ASSERT_TRUE(write_at(*view_, made->id, 0, "renamed\n").ok());
    ASSERT_TRUE(view_->rename(etc, "hostname.new", etc, "hostname").ok());
    ASSERT_TRUE(view_->remove(etc, "hosts").ok());

    EXPECT_EQ(mount_as("kitchen"), 0u);
    EXPECT_EQ(read("/etc/hostname"), "renamed\n");
    EXPECT_FALSE(exists(*view_, "/etc/hosts"));
}

TEST_F(GenerateTest, AResetDeltaGetsItsNameAgainAtTheNextMount) {
    mount_as("pi-1234abcd");
    ASSERT_TRUE(store_->reset(mac(1)).ok());
    EXPECT_EQ(read("/etc/hostname"), "raspberrypi\n");
    EXPECT_EQ(mount_as("pi-1234abcd"), 2u);
    EXPECT_EQ(read("/etc/hostname"), "pi-1234abcd\n");
}

TEST_F(GenerateTest, NothingIsMadeWhereTheImageHasNoFile) {
    std::filesystem::remove(image_ / "root/etc/hosts");
    StoreOptions o;
    o.state_dir = dir_.path() / "other-state";
    std::filesystem::create_directories(o.state_dir / "images");
    std::filesystem::copy(image_, o.state_dir / "images/pi",
                          std::filesystem::copy_options::recursive);
    auto s = Store::open(o);
    ASSERT_TRUE(s.ok());
    auto v = (*s)->view(mac(1), "pi");
    ASSERT_TRUE(v.ok());
    auto n = (*v)->generate(identity_files("kitchen"));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 1u);
    EXPECT_FALSE(exists(**v, "/etc/hosts"));
}

TEST_F(GenerateTest, AKeptFileIsMadeOnceAndAgainAfterAReset) {
    int made = 0;
    std::vector<GeneratedFile> files = {{"/etc/hostname",
                                         [&made](std::string_view) -> std::optional<std::string> {
                                             return "key " + std::to_string(++made) + "\n";
                                         },
                                         true}};
    ASSERT_EQ(*view_->generate(files), 1u);
    EXPECT_EQ(read("/etc/hostname"), "key 1\n");
    ASSERT_EQ(*view_->generate(files), 0u);
    reopen();
    ASSERT_EQ(*view_->generate(files), 0u);
    EXPECT_EQ(read("/etc/hostname"), "key 1\n");
    EXPECT_EQ(made, 1);
    ASSERT_TRUE(store_->reset(mac(1)).ok());
    ASSERT_EQ(*view_->generate(files), 1u);
    EXPECT_EQ(read("/etc/hostname"), "key 2\n");
}

TEST_F(GenerateTest, NoContentLeavesTheFileAsItIs) {
    std::vector<GeneratedFile> files = {
        {"/etc/hostname", [](std::string_view) -> std::optional<std::string> { return {}; }}};
    ASSERT_EQ(*view_->generate(files), 0u);
    EXPECT_EQ(read("/etc/hostname"), "raspberrypi\n");
}

}  // namespace
}  // namespace rootfarm::store
