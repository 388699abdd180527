// Integration: READ data over TCP, which leaves from the page cache rather than a buffer
// (Connection::send_file). What a client receives must be exactly the file: counts, eof and
// bytes at every edge, on many connections, from image and client files, while a file shrinks.

#include <gtest/gtest.h>
#include <nfsc/libnfs.h>
#include <xxhash.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "nfsd/libnfs_client.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/testing.h"

namespace rootfarm::nfsd {
namespace {

using namespace testing;

class NfsReadData : public ::testing::Test {
  protected:
    void SetUp() override {
        make_standard_image(dir_);
        config_ = test_config(dir_.path());
        server_ = InProcessServer::start(config_);
        ASSERT_NE(server_, nullptr);
        auto root = mount_root(config_.nfs.mount_port);
        ASSERT_TRUE(root);
        root_ = *root;
    }
    uint16_t port() const { return config_.nfs.port; }

    StateDir dir_;
    Config config_;
    std::unique_ptr<InProcessServer> server_;
    std::vector<uint8_t> root_;
};

// A READ reply taken apart: its count, eof and data, after checking the reply ends right after
// the data and its XDR padding, and that the padding is zeros (RFC 4506 §4.10).
struct ReadResult {
    uint32_t count = 0;
    bool eof = false;
    std::string data;
};
std::optional<ReadResult> parse_read(const RpcReply& r) {
    XdrReader x = r.results();
    if (x.u32() != kNfs3Ok) return std::nullopt;
    if (x.boolean()) x.skip(kFattr3Bytes);
    ReadResult out;
    out.count = x.u32();
    out.eof = x.boolean();
    auto data = x.opaque(1u << 20);
    if (!x.ok()) return std::nullopt;
    EXPECT_EQ(x.remaining(), 0u) << "bytes after the data";
    const size_t pad = xdr_pad(data.size()) - data.size();
    for (size_t i = 0; i < pad; ++i) EXPECT_EQ(r.body[r.body.size() - 1 - i], 0) << "pad byte";
    out.data.assign(data.begin(), data.end());
    return out;
}

std::string random_bytes(size_t n, uint32_t seed) {
    std::string s(n, '\0');
    std::mt19937 rng(seed);
    for (char& c : s) c = static_cast<char>(rng() | 1);  // no zeros: a zero is never the file's
    return s;
}

uint64_t xxh(const std::string& s) {
    return XXH3_64bits(s.data(), s.size());
}

TEST_F(NfsReadData, EveryEdgeOfAReadIsExact) {
    // Pipelined on one connection, with GETATTRs between: replies of READs with and without
    // data interleave, so a record whose length and content disagree breaks every later one.
    RawRpc rpc(port());
    auto fh = lookup(rpc, root_, "big.bin");
    ASSERT_TRUE(fh);
    const std::string big = big_content();
    const uint64_t size = big.size();  // 3 MiB + 123: not a multiple of 4 or of a page
    const std::vector<std::pair<uint64_t, uint32_t>> reads = {
        {0, 1u << 20},
        {1, 1},
        {2, 2},
        {3, 3},
        {5, 4},
        {4095, 1u << 20},
        {4096, 4097},
        {size - 1, 1},
        {size - 1, 4096},
        {size - 5, 5},
        {size - 6, 3},
        {size - (1u << 20) - 1, 1u << 20},
        {size - 100, 1u << 20},
        {size, 10},
        {size + 1, 1u << 20},
        {12345, 0},
        {1u << 20, (2u << 20) + 5},
    };
    std::vector<uint8_t> all;
    uint32_t xid = 5000;
    for (const auto& [offset, count] : reads) {
        for (auto call : {build_call(xid, kNfsProgram, 3, kNfs3Read, io_args(*fh, offset, count)),
                          build_call(xid + 1, kNfsProgram, 3, kNfs3GetAttr, fh_args(*fh))}) {
            XdrWriter(all).u32(0x80000000u | static_cast<uint32_t>(call.size()));
            all.insert(all.end(), call.begin(), call.end());
        }
        xid += 2;
    }
    ASSERT_TRUE(rpc.send_raw(all));
    size_t reads_seen = 0;
    for (size_t i = 0; i < 2 * reads.size(); ++i) {
        auto r = rpc.receive();
        ASSERT_TRUE(r) << "reply " << i;
        if (r->xid % 2) {
            EXPECT_EQ(r->results().u32(), kNfs3Ok);
            continue;
        }
        ++reads_seen;
        const auto [offset, count] = reads[(r->xid - 5000) / 2];
        SCOPED_TRACE("READ at " + std::to_string(offset) + " of " + std::to_string(count));
        auto res = parse_read(*r);
        ASSERT_TRUE(res);
        // At most rtmax (FSINFO: 1 MiB over TCP), however many were asked for.
        const uint64_t want =
            offset >= size ? 0 : std::min<uint64_t>({count, size - offset, 1u << 20});
        EXPECT_EQ(res->count, want);
        EXPECT_EQ(res->data.size(), want);
        EXPECT_EQ(res->eof, offset + want >= size);
        EXPECT_TRUE(res->data == big.substr(std::min(offset, size), want)) << "data differs";
    }
    EXPECT_EQ(reads_seen, reads.size());
}

TEST_F(NfsReadData, LibnfsReadsLargeFilesOnManyConnections) {
    // Image files and client files (the delta's own backing files), checksummed.
    std::map<std::string, std::string> files = {{"/big.bin", big_content()}};
    {
        LibNfs nfs(config_);
        ASSERT_TRUE(nfs.mounted()) << nfs.error();
        for (auto [name, size] : {std::pair{"/tmp/five.bin", size_t{(5u << 20) + 1}},
                                  std::pair{"/tmp/two.bin", size_t{(2u << 20) + 4097}},
                                  std::pair{"/tmp/small.bin", size_t{4098}}}) {
            files[name] = random_bytes(size, static_cast<uint32_t>(size));
            ASSERT_TRUE(nfs.write_file(name, files[name])) << nfs.error();
        }
    }
    constexpr int kConnections = 8;
    std::atomic<int> matched{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < kConnections; ++i) {
        clients.emplace_back([&] {
            LibNfs nfs(config_);
            if (!nfs.mounted()) return;
            for (int round = 0; round < 2; ++round) {
                for (const auto& [name, content] : files) {
                    auto got = nfs.read_file(name);
                    if (got && got->size() == content.size() && xxh(*got) == xxh(content)) {
                        ++matched;
                    } else {
                        ADD_FAILURE() << name << ": " << (got ? got->size() : 0) << " bytes";
                    }
                }
            }
        });
    }
    for (auto& c : clients) c.join();
    EXPECT_EQ(matched, kConnections * 2 * static_cast<int>(files.size()));
}

TEST_F(NfsReadData, ReadsWhileTheFileShrinksNeverLie) {
    // READs of a client file pile up behind a client that does not read its replies yet; the
    // file shrinks (another connection's SETATTR) while most are still queued, their headers
    // already built. Every reply is whole, its count is its data's length, and each byte is the
    // file's or a zero: the queued replies send zeros for what the file no longer has.
    constexpr size_t kSize = 6u << 20;
    const std::string content = random_bytes(kSize, 99);
    LibNfs writer(config_);
    ASSERT_TRUE(writer.mounted()) << writer.error();
    RawRpc rpc(port());
    auto tmp = lookup(rpc, root_, "tmp");
    ASSERT_TRUE(tmp);
    size_t replies = 0, zeros = 0;
    for (uint32_t round = 0; round < 3; ++round) {
        ASSERT_TRUE(writer.write_file("/tmp/shrink.bin", content)) << writer.error();
        auto fh = lookup(rpc, *tmp, "shrink.bin");
        ASSERT_TRUE(fh);
        std::vector<uint8_t> all;
        constexpr uint32_t kReads = 12;
        for (uint32_t i = 0; i < kReads; ++i) {
            auto call = build_call(round * 100 + i, kNfsProgram, 3, kNfs3Read,
                                   io_args(*fh, uint64_t{i % 6} << 20, 1u << 20));
            XdrWriter(all).u32(0x80000000u | static_cast<uint32_t>(call.size()));
            all.insert(all.end(), call.begin(), call.end());
        }
        ASSERT_TRUE(rpc.send_raw(all));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        ASSERT_EQ(nfs_truncate(writer.ctx(), "/tmp/shrink.bin", 1000 + round), 0) << writer.error();
        for (uint32_t i = 0; i < kReads; ++i) {
            auto r = rpc.receive();
            ASSERT_TRUE(r) << "a reply is missing or its record broken";
            auto res = parse_read(*r);
            ASSERT_TRUE(res);
            ASSERT_EQ(res->data.size(), res->count);
            const uint64_t offset = uint64_t{(r->xid % 100) % 6} << 20;
            ++replies;
            for (size_t k = 0; k < res->data.size(); ++k) {
                const char b = res->data[k];
                if (b == 0) {
                    ++zeros;
                } else {
                    ASSERT_EQ(b, content[offset + k]) << "at " << offset + k;
                }
            }
        }
    }
    EXPECT_EQ(replies, 36u);
    // Replies announced before the truncation and sent after it: their missing bytes are zeros
    // (the file's own bytes are never zero). This shows the test reached that case: a server
    // that read the data when it executed the call would send none.
    EXPECT_GT(zeros, 0u);
}

}  // namespace
}  // namespace rootfarm::nfsd
