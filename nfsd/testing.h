#pragma once

// Test support for the nfsd integration tests: an in-process NFS server on Loop threads over a
// generated image, and a raw ONC RPC client that sends exact calls (for
// retransmits, EXCLUSIVE create and malformed records).

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "clients/clients.h"
#include "core/config.h"
#include "core/loop.h"
#include "nfsd/nfsd.h"
#include "nfsd/xdr.h"
#include "store/store.h"

namespace rootfarm::nfsd::testing {

// A port nothing listens on right now (TCP and UDP on 127.0.0.1), below the kernel's ephemeral
// range so no client socket takes it meanwhile.
uint16_t free_port();

// A temporary state directory with images/default/{root,boot}, removed at destruction.
class StateDir {
  public:
    StateDir();
    ~StateDir();
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path root() const { return path_ / "images/default/root"; }
    // Writes a file in the image's root tree (before the server starts).
    void write(const std::string& rel, const std::string& content, unsigned mode = 0644,
               unsigned uid = 0, unsigned gid = 0);
    void mkdir(const std::string& rel, unsigned mode = 0755, unsigned uid = 0, unsigned gid = 0);

  private:
    std::filesystem::path path_;
};

// Config for a server on 127.0.0.1 high ports, serving client 127.0.0.1 with image "default".
Config test_config(const std::filesystem::path& state_dir);
// Adds a second client, b8:27:eb:00:00:02 "pi-other" on image "default", at `ip`.
void add_second_client(Config& config, const char* ip);
// Picks new free ports for NFS, MOUNT and portmap.
void pick_ports(Config& config);

// NfsServer + Store + Clients on `threads` Loop threads, like `rootfarm serve`.
class InProcessServer {
  public:
    explicit InProcessServer(const Config& config, int threads = 2);
    ~InProcessServer();
    bool ok() const { return ok_; }
    // The server's store, for what an operator does while serving (Store::reset).
    store::Store& store() { return *store_; }
    // The Pis' owner, for what an operator does while serving (reset, reload).
    Clients& clients() { return *clients_; }
    NfsServer& nfs() { return *nfs_; }

    // Starts a server on fresh ports, picking others (written to `config`) when another test
    // process took one between free_port() and bind. Nullptr if it never starts.
    static std::unique_ptr<InProcessServer> start(Config& config, int threads = 2);

  private:
    const Config& config_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<Clients> clients_;
    std::unique_ptr<NfsServer> nfs_;
    std::vector<std::thread> threads_;
    std::vector<Loop*> loops_;
    bool ok_ = false;
};

// One accepted RPC reply.
struct RpcReply {
    uint32_t xid = 0;
    uint32_t reply_stat = 0;    // 0 accepted, 1 denied
    uint32_t accept_stat = 0;   // or reject_stat when denied
    std::vector<uint8_t> body;  // whole reply
    size_t results_offset = 0;  // where the procedure's results start
    XdrReader results() const { return XdrReader(std::span(body).subspan(results_offset)); }
};

// Builds a call message (without record mark) with AUTH_SYS credentials.
std::vector<uint8_t> build_call(uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc,
                                const std::vector<uint8_t>& args, uint32_t uid = 0,
                                uint32_t gid = 0);
std::optional<RpcReply> parse_reply(std::vector<uint8_t> bytes);

// A blocking RPC-over-TCP client with bounded waits.
class RawRpc {
  public:
    // Connects to 127.0.0.1:port from `source` (another 127/8 address for "unknown client").
    explicit RawRpc(uint16_t port, const char* source = "127.0.0.1");
    ~RawRpc();
    bool connected() const { return fd_ >= 0; }
    // Sends raw bytes as they are (for malformed records).
    bool send_raw(const std::vector<uint8_t>& bytes);
    // Sends `msg` as one record split into fragments of at most `fragment` bytes.
    bool send_record(const std::vector<uint8_t>& msg, size_t fragment = SIZE_MAX);
    // Next reply record; nullopt on timeout or close.
    std::optional<RpcReply> receive(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    std::optional<RpcReply> call(const std::vector<uint8_t>& msg);
    // True when the server closed the connection (read returns 0 or an error) within timeout.
    bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  private:
    bool read_exact(uint8_t* p, size_t n, std::chrono::milliseconds timeout);
    int fd_ = -1;
};

// Sends one datagram call over UDP and waits for the reply.
std::optional<RpcReply> udp_call(uint16_t port, const std::vector<uint8_t>& msg);

// XDR argument helpers.
std::vector<uint8_t> fh_args(std::span<const uint8_t> fh);
void put_fh(XdrWriter& w, std::span<const uint8_t> fh);

// READ3args / COMMIT3args (the same layout: handle, offset, count).
std::vector<uint8_t> io_args(std::span<const uint8_t> fh, uint64_t offset, uint32_t count);
// The data of a READ reply, or nullopt when it is not NFS3_OK.
std::optional<std::string> read_data(const RpcReply& reply);
// The verifier of a COMMIT reply, or nullopt when it is not NFS3_OK.
std::optional<uint64_t> commit_verifier(const RpcReply& reply);

// MNT "/" over the raw client; returns the root handle.
std::optional<std::vector<uint8_t>> mount_root(uint16_t mount_port, const std::string& path = "/",
                                               const char* source = "127.0.0.1");
// LOOKUP name in dir; the object handle or nullopt (status in *status).
std::optional<std::vector<uint8_t>> lookup(RawRpc& rpc, const std::vector<uint8_t>& dir,
                                           const std::string& name, uint32_t* status = nullptr);

}  // namespace rootfarm::nfsd::testing

namespace rootfarm::nfsd::testing {

// The image every integration test serves:
//   etc/hostname (0644 root) "golden\n", etc/secret (0600 root), bin/tool (0755),
//   lib/hostname-link -> ../etc/hostname, big.bin (3 MiB + 123 bytes, pattern),
//   many/ (5,000 files f0000..f4999), home/pi (0755, 1000:1000),
//   data/a and data/b (two names of one file), tmp (1777), sbin/su (04755 root).
void make_standard_image(StateDir& dir);
// The bytes of big.bin.
std::string big_content();

}  // namespace rootfarm::nfsd::testing
