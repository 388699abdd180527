// Integration: the real `rootfarm serve` binary serving NFS, read and written with libnfs, and
// killed between two calls that use the same handles.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "nfsd/libnfs_client.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"
#include "tests/support/serve_process.h"

namespace rootfarm::nfsd {
namespace {

using namespace nfsd::testing;

class NfsServe : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_.write("etc/hostname", "golden\n");
        dir_.mkdir("tmp", 01777);
        config_ = test_config(dir_.path());
        config_path_ = dir_.path() / "rootfarm.toml";
        std::ofstream(config_path_) << "state_dir = \"" << dir_.path().string() << "\"\n"
                                    << "server_ip = \"127.0.0.1\"\n"
                                    << "[nfs]\n"
                                    << "listen = \"127.0.0.1\"\n"
                                    << "port = " << config_.nfs.port << "\n"
                                    << "mount_port = " << config_.nfs.mount_port << "\n"
                                    << "portmap_port = " << config_.nfs.portmap_port << "\n"
                                    << "portmap = \"builtin\"\n"
                                    << "threads = 2\n"
                                    << "[tftp]\n"
                                    << "enabled = false\n"
                                    << "[[client]]\n"
                                    << "mac = \"b8:27:eb:00:00:01\"\n"
                                    << "ip = \"127.0.0.1\"\n"
                                    << "image = \"default\"\n"
                                    << "hostname = \"kitchen\"\n";
    }

    StateDir dir_;
    Config config_;
    std::filesystem::path config_path_;
};

TEST_F(NfsServe, ServesAndKeepsHandlesAcrossAKill) {
    std::vector<uint8_t> root, file;
    {
        rootfarm::testing::ServeProcess serve(config_path_);
        ASSERT_TRUE(serve.wait_ready()) << serve.log();
        LibNfs nfs(config_);
        ASSERT_TRUE(nfs.mounted()) << nfs.error() << serve.log();
        // Its configured name, generated in its view at MNT.
        EXPECT_EQ(nfs.read_file("/etc/hostname"), "kitchen\n");
        ASSERT_TRUE(nfs.write_file("/tmp/state", "written before the crash"));
        auto r = mount_root(config_.nfs.mount_port);
        ASSERT_TRUE(r);
        root = *r;
        RawRpc rpc(config_.nfs.port);
        auto tmp = lookup(rpc, root, "tmp");
        ASSERT_TRUE(tmp);
        auto f = lookup(rpc, *tmp, "state");
        ASSERT_TRUE(f);
        file = *f;
        serve.kill9();  // what the server promised (fsync'ed COMMIT, namespace ops) must hold
    }
    // A second config file, so the new process has its own log (ServeProcess may read the old
    // log's "serving" line before the child truncates it).
    auto second = dir_.path() / "rootfarm-restarted.toml";
    std::filesystem::copy_file(config_path_, second);
    rootfarm::testing::ServeProcess serve(second);
    ASSERT_TRUE(serve.wait_ready()) << serve.log();
    RawRpc rpc(config_.nfs.port);
    for (const auto& fh : {root, file}) {
        auto r = rpc.call(build_call(5, kNfsProgram, 3, kNfs3GetAttr, fh_args(fh)));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->results().u32(), kNfs3Ok);
    }
    LibNfs nfs(config_);
    ASSERT_TRUE(nfs.mounted()) << nfs.error();
    EXPECT_EQ(nfs.read_file("/tmp/state"), "written before the crash");
    EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.log();
}

}  // namespace
}  // namespace rootfarm::nfsd
