// The store never needs privileges: a client's root-owned setuid files, devices and chowns are
// metadata. Run as root, this test drops to an ordinary user in a child process first.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "store/test_util.h"

namespace rootfarm::store {
namespace {

using namespace testing;

constexpr uid_t kNobody = 65534;

// Returns 0 on success, else the number of the step that failed.
int run_as_client(const std::filesystem::path& state) {
    StoreOptions o;
    o.state_dir = state;
    auto store = Store::open(o);
    if (!store.ok()) return 1;
    auto view = (*store)->view(mac(1), "pi");
    if (!view.ok()) return 2;
    ClientView& v = **view;
    CreateArgs args;
    args.owner = {0, 0};
    args.attrs.mode = 04755;
    auto f = v.create(v.root(), "su", args);
    if (!f.ok() || !write_at(v, f->id, 0, "binary").ok()) return 3;
    if (v.getattr(f->id)->uid != 0 || v.getattr(f->id)->mode != 04755) return 4;
    if (!v.mknod(v.root(), "sda", FileType::kBlock, 8, 0, {}, {0, 6}).ok()) return 5;
    SetAttrArgs chown;
    chown.uid = 0;
    chown.gid = 42;
    ObjectId host = walk(v, "/etc/hostname");
    if (!v.setattr(host, chown).ok() || v.getattr(host)->gid != 42) return 6;
    if (!write_at(v, host, 0, "mine").ok()) return 7;  // copy-up of a root-owned image file
    if (read_all(v, host) != "mineberrypi\n") return 8;
    return 0;
}

TEST(Unprivileged, OwnersModesAndDevicesNeedNoPrivilege) {
    TempDir dir;
    write_file(dir.path() / "images/pi/root/etc/hostname", "raspberrypi\n");
    write_file(dir.path() / "images/pi/boot/config.txt", "");
    bool root = ::geteuid() == 0;
    if (root) {
        // The state directory belongs to the unprivileged server user; the image stays root's
        // and only readable to others, as after `sudo cp -a`.
        ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
        for (const char* sub : {"clients", "index", "layers"}) {
            std::filesystem::create_directories(dir.path() / sub);
            ASSERT_EQ(::chown((dir.path() / sub).c_str(), kNobody, kNobody), 0);
        }
        ASSERT_EQ(::chown(dir.path().c_str(), kNobody, kNobody), 0);
    }
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (root && (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)) ::_exit(100);
        ::_exit(run_as_client(dir.path()));
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "step " << WEXITSTATUS(status) << " failed";
}

}  // namespace
}  // namespace rootfarm::store
